#!/usr/bin/env python3
"""Summarizes a JUnit XML of the llama.cpp server suite run against kvc-server:
passes and failures, split into tests that depend on the text of llama.cpp's own
test models, tests of kvc-server's deliberate differences (both listed with the
reason in model_dependent.txt) and the rest. Exit 0 when every test of the rest
passed (or with --baseline, always). With --expect FILE (one test id a line, as
printed: file::name[params]; '#' comments): exit 0 when every listed test passed
(a ratchet: the rest that still fail are listed as known failures, and a listed
test that fails is a regression)."""
import sys
import xml.etree.ElementTree as ET


def main():
    xml, baseline = sys.argv[1], "--baseline" in sys.argv
    expect = None
    if "--expect" in sys.argv:
        with open(sys.argv[sys.argv.index("--expect") + 1], encoding="utf-8") as f:
            expect = {l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")}
    root = ET.parse(xml).getroot()
    rows = []
    for tc in root.iter("testcase"):
        name = tc.get("classname", "").split(".")[-1] + "::" + tc.get("name", "")
        dep = None
        for p in tc.iter("property"):
            if p.get("name") == "model_dependent":
                dep = p.get("value")
        if tc.find("failure") is not None or tc.find("error") is not None:
            status = "fail"
        elif tc.find("skipped") is not None:
            status = "skip"
        else:
            status = "pass"
        rows.append((name, status, dep))
    total = len(rows)
    passed = sum(1 for r in rows if r[1] == "pass")
    indep = [r for r in rows if r[2] is None]
    indep_pass = sum(1 for r in indep if r[1] == "pass")
    dep = [r for r in rows if r[2] is not None and not r[2].startswith("difference:")]
    dep_pass = sum(1 for r in dep if r[1] == "pass")
    diff = [r for r in rows if r[2] is not None and r[2].startswith("difference:")]
    diff_pass = sum(1 for r in diff if r[1] == "pass")
    print("llama.cpp server suite against kvc-server: %d of %d passed" % (passed, total))
    print("  the rest:              %d of %d passed" % (indep_pass, len(indep)))
    print("  model-dependent:       %d of %d passed" % (dep_pass, len(dep)))
    print("  deliberate differences: %d of %d passed" % (diff_pass, len(diff)))
    for name, status, why in rows:
        if status != "pass" or baseline:
            print("  %-4s %s%s" % (status, name, "  [%s]" % why if why else ""))
    skipped = [r for r in rows if r[1] == "skip"]
    if skipped:
        print("  (%d skipped by the suite itself, e.g. slow or needing a GPU/multimodal model)" % len(skipped))
    failed = sum(1 for r in rows if r[1] == "fail")
    print("%d passed, %d failed, %d skipped" % (passed, failed, len(skipped)))
    if baseline:
        return 0
    if expect is not None:
        status = {name: st for name, st, _ in rows}
        regressions = sorted(n for n in expect if status.get(n) != "pass")
        for n in regressions:
            print("  REGRESSION (expected to pass): %s [%s]" % (n, status.get(n, "not run")))
        print("%d of %d expected passes passed" % (len(expect) - len(regressions), len(expect)))
        return 1 if regressions else 0
    return 0 if all(r[1] != "fail" for r in indep) else 1


if __name__ == "__main__":
    sys.exit(main())
