"""Reads docker-bench-security's JSON report of section 5 (the containers)
and judges it: the checks named clean must have no WARN; every other WARN is
printed with the reason it is accepted, and a WARN with no reason fails.

usage: cis.py REPORT.json CLEAN_IDS ACCEPTED.tsv
  CLEAN_IDS      comma-separated check ids that must pass (5.4,5.5,...)
  ACCEPTED.tsv   lines "ID<TAB>reason" for the WARNs accepted here
Prints one line per finding and "score S of N checks"; exits 1 on a failure.
"""
import json
import sys

report, clean, accepted_file = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
accepted = {}
with open(accepted_file) as f:
    for line in f:
        if line.strip() and not line.startswith("#"):
            check, reason = line.rstrip("\n").split("\t", 1)
            accepted[check] = reason

with open(report) as f:
    data = json.load(f)
failed = False
warns = {}
for section in data.get("tests", []):
    for r in section.get("results", []):
        if r.get("result") == "WARN":
            warns[r["id"]] = r
for check in clean:
    if check in warns:
        items = warns[check].get("items") or []
        print(f"FAIL {check} {warns[check]['desc']}: WARN on {len(items)} container(s): {', '.join(map(str, items))}")
        failed = True
    else:
        print(f"ok   {check} no WARN")
for check in sorted(warns, key=lambda c: [int(p) for p in c.split(".")]):
    if check in clean:
        continue
    items = warns[check].get("items") or []
    reason = accepted.get(check)
    if reason is None:
        print(f"FAIL {check} {warns[check]['desc']}: WARN on {len(items)} container(s), no reason to accept it")
        failed = True
    else:
        print(f"warn {check} on {len(items)} container(s), accepted: {reason}")
print(f"score {data.get('score')} of {data.get('checks')} checks")
sys.exit(1 if failed else 0)
