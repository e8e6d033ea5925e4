package dev.shepherd.pool.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class KubernetesNamesTest {

  @Test
  void aValidLabelValueIsKeptAsItIs() {
    assertThat(KubernetesNames.toLabelValue("reports")).isEqualTo("reports");
    assertThat(KubernetesNames.toLabelValue("Reports_2.v-1")).isEqualTo("Reports_2.v-1");
    assertThat(KubernetesNames.toLabelValue("a".repeat(63))).isEqualTo("a".repeat(63));
  }

  /** Lossy names: distinct texts get distinct, valid, non-empty labels (they all were "" or equal). */
  @Test
  void namesThatAreNotLabelValuesGetAHashAndStayDistinct() {
    List<String> names =
        List.of("отчёты", "отчеты", "報告", "", "reports/1", "reports_1", "reports 1", "-reports-",
            "a".repeat(64), "a".repeat(63) + "b", "a".repeat(70) + "c");

    List<String> labels = names.stream().map(KubernetesNames::toLabelValue).toList();

    assertThat(labels).doesNotHaveDuplicates().allSatisfy(v -> {
      assertThat(v).isNotEmpty();
      assertThat(KubernetesNames.isLabelValue(v)).as(v).isTrue();
    });
    assertThat(KubernetesNames.toLabelValue("reports/1")).matches("reports_1-[0-9a-f]{8}");
    assertThat(KubernetesNames.toLabelValue("отчёты")).matches("[0-9a-f]{8}");
    assertThat(KubernetesNames.toLabelValue("отчёты")).isEqualTo(KubernetesNames.toLabelValue("отчёты"));
  }
}
