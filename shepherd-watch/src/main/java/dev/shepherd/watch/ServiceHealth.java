package dev.shepherd.watch;

import dev.shepherd.core.internal.Require;
import java.util.List;
import java.util.Map;

/**
 * One instance of a service with its node and health checks, as Consul's
 * {@code GET /v1/health/service/<service>} returns it.
 *
 * @param node the node the instance runs on
 * @param service the service instance
 * @param checks the node's and the instance's health checks
 */
public record ServiceHealth(Node node, Service service, List<Check> checks) {

  /**
   * Creates an entry; the list is copied.
   *
   * @throws NullPointerException if an argument is null
   */
  public ServiceHealth {
    Require.nonNull(node, "node");
    Require.nonNull(service, "service");
    checks = List.copyOf(Require.nonNull(checks, "checks"));
  }

  /**
   * Returns Consul's aggregated status of the checks: "critical" if any check is critical, else
   * "warning" if any warns, else "passing" (also with no checks).
   *
   * @return the aggregated status
   */
  public String aggregatedStatus() {
    boolean warning = false;
    for (Check check : checks) {
      if ("critical".equals(check.status())) {
        return "critical";
      }
      warning |= "warning".equals(check.status());
    }
    return warning ? "warning" : "passing";
  }

  /**
   * A Consul node.
   *
   * @param name the node name
   * @param address the node address
   * @param datacenter the datacenter, empty if not reported
   */
  public record Node(String name, String address, String datacenter) {}

  /**
   * A service instance.
   *
   * @param id the instance id
   * @param name the service name
   * @param address the instance address; empty means the node's address
   * @param port the port
   * @param tags the tags
   * @param meta the metadata
   */
  public record Service(String id, String name, String address, int port, List<String> tags,
      Map<String, String> meta) {

    /** Creates a service; lists and maps are copied. */
    public Service {
      tags = List.copyOf(tags);
      meta = Map.copyOf(meta);
    }
  }

  /**
   * A health check.
   *
   * @param checkId the check id
   * @param name the check name
   * @param status "passing", "warning" or "critical"
   * @param output the check's last output
   * @param serviceId the instance the check belongs to, empty for a node check
   */
  public record Check(String checkId, String name, String status, String output,
      String serviceId) {}
}
