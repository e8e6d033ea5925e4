"""Drives BlockingQueryServlet with Debian's python3-consul, as a user of that library would.

Usage: python3 python_consul_check.py <port>. Prints one "name=value" line per result; the line
"holding" is printed right before a blocking query on the folder "app/" that the Java side wakes
by writing "app/db/pool".
"""
import sys

import consul

c = consul.Consul(host="127.0.0.1", port=int(sys.argv[1]), scheme="http")


def out(name, value):
    print("%s=%s" % (name, value), flush=True)


out("put", c.kv.put("app/db/url", "jdbc:one"))
index, data = c.kv.get("app/db/url")
out("get.value", data["Value"].decode())
out("get.key", data["Key"])
out("cas0.existing", c.kv.put("app/db/url", "x", cas=0))
out("cas0.absent", c.kv.put("app/new", "n", cas=0))
out("cas.stale", c.kv.put("app/db/url", "y", cas=data["ModifyIndex"] + 1000))
out("cas.current", c.kv.put("app/db/url", "jdbc:two", cas=data["ModifyIndex"]))
index, items = c.kv.get("app/", recurse=True)
out("recurse.keys", ",".join(i["Key"] for i in items))
out("recurse.values", ",".join(i["Value"].decode() for i in items))
out("recurse.index.is.max", int(index) == max(i["ModifyIndex"] for i in items))
index, keys = c.kv.get("app/", keys=True, separator="/")
out("keys.separator", ",".join(keys))
index, keys = c.kv.get("app/", keys=True)
out("keys.all", ",".join(keys))
index, missing = c.kv.get("absent/key")
out("missing", missing)
out("delete.cas0", c.kv.delete("app/new", cas=0))
out("delete", c.kv.delete("app/new"))

# A blocking query over the folder, as a watch on a folder runs it.
index, items = c.kv.get("app/", recurse=True)
out("holding", index)
new_index, items = c.kv.get("app/", recurse=True, index=index, wait="30s")
out("woken.grew", int(new_index) > int(index))
out("woken.keys", ",".join(i["Key"] for i in items))
