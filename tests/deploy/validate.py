#!/usr/bin/env python3
"""validate.py - offline checks of the manifests in deploy/.

Core Kubernetes objects go through `kubernetes-validate --strict` for the oldest
and the newest Kubernetes version it ships schemas for; a "Couldn't find schema"
warning fails. KServe objects go through deploy/kserve/kserve.schema.json
(jsonschema), and their containers and volumes, which are core/v1 objects,
through kubernetes-validate inside a Pod. Every shipped manifest must pass and
every fixture in tests/deploy/broken/ must fail, with the error its
"# expect: TEXT" line names (so it fails for the reason it was written for).

usage: validate.py REPO_ROOT   (run with the venv's python: make test-deploy)
Prints one ok/FAIL line per check, then "N passed, N failed".
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import jsonschema
import yaml
from kubernetes_validate.utils import all_versions

KSERVE_GROUP = "serving.kserve.io/"


def run_kubernetes_validate(doc, version, tmp):
    """Errors (strings) of one core object against one Kubernetes version."""
    path = os.path.join(tmp, "doc.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(doc, f)
    exe = os.path.join(os.path.dirname(sys.executable), "kubernetes-validate")
    p = subprocess.run([exe, "--strict", "-k", version, path], capture_output=True, text=True,
                       timeout=120)
    out = (p.stdout + p.stderr).strip()
    # A missing schema is only a warning to the tool (exit 0), a failure to us.
    if p.returncode != 0 or "WARN" in out or "Couldn't find schema" in out:
        return [f"{version}: {out}"]
    return []


def as_pod(doc):
    """The core/v1 parts of a KServe object (containers, volumes) as a Pod."""
    spec = doc.get("spec") or {}
    pod_spec = {k: spec[k] for k in ("containers", "volumes", "nodeSelector", "affinity",
                                     "tolerations", "imagePullSecrets") if k in spec}
    name = (doc.get("metadata") or {}).get("name", "x")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec}


def errors_of(doc, schema, versions, tmp):
    if not isinstance(doc, dict) or "apiVersion" not in doc:
        return ["not a Kubernetes object"]
    errs = []
    if str(doc["apiVersion"]).startswith(KSERVE_GROUP):
        v = jsonschema.Draft202012Validator(schema)
        for e in v.iter_errors(doc):
            # oneOf hides the useful message: report the deepest ones.
            causes = sorted(e.context, key=lambda c: -len(c.absolute_path)) if e.context else [e]
            errs += [f"{'/'.join(map(str, c.absolute_path))}: {c.message}" for c in causes[:6]]
        if doc.get("kind") == "ClusterServingRuntime":
            for ver in versions:
                errs += run_kubernetes_validate(as_pod(doc), ver, tmp)
    else:
        for ver in versions:
            errs += run_kubernetes_validate(doc, ver, tmp)
    return errs


def check_file(path, schema, versions, tmp):
    with open(path) as f:
        text = f.read()
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    errs = []
    for d in docs:
        errs += errors_of(d, schema, versions, tmp)
    return docs, errs, text


def main():
    root = sys.argv[1]
    with open(os.path.join(root, "deploy/kserve/kserve.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    vs = all_versions()
    versions = [vs[0], vs[-1]]
    passed = failed = 0

    def report(good, line, detail=""):
        nonlocal passed, failed
        passed, failed = passed + good, failed + (not good)
        print(("ok   " if good else "FAIL ") + line + ("" if good or not detail else ": " + detail))

    with tempfile.TemporaryDirectory() as tmp:
        shipped = sorted(glob.glob(os.path.join(root, "deploy/**/*.yaml"), recursive=True))
        for path in shipped:
            docs, errs, _ = check_file(path, schema, versions, tmp)
            kinds = ", ".join(d.get("kind", "?") for d in docs)
            report(bool(docs) and not errs,
                   f"{os.path.relpath(path, root)} ({kinds}) valid for Kubernetes "
                   f"{' and '.join(versions)}", " | ".join(errs)[:600])
        for path in sorted(glob.glob(os.path.join(root, "tests/deploy/broken/*.yaml"))):
            docs, errs, text = check_file(path, schema, versions, tmp)
            want = [l.split(":", 1)[1].strip() for l in text.splitlines()
                    if l.startswith("# expect:")]
            why = " | ".join(errs)
            good = bool(errs) and len(want) == 1 and want[0] in why
            report(good, f"broken fixture {os.path.basename(path)} fails ({want[0] if want else '?'})",
                   why[:600] or "it passed")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
