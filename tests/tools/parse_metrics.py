"""Parse Prometheus text exposition from stdin with the reference client's parser; print JSON:
{"families": {name: {"type": ..., "samples": [[sample_name, labels, value], ...]}}}.
A malformed exposition makes the parser raise, and this script exit non-zero."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
print(json.dumps({"families": families}))
