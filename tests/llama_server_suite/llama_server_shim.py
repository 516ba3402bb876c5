#!/usr/bin/env python3
"""Stands in for llama-server when llama.cpp's server test suite starts it.

The suite's utils.py starts $LLAMA_SERVER_BIN_PATH with llama-server's flags.
This maps the only ones a user switching to kvc-server would have to change —
where the model comes from — and execs kvc-server with everything else as
given: kvc-server takes llama-server's flags itself (server/llama_flags.cc),
and refuses, with a reason, the ones it cannot honour.

  --hf-repo R [--hf-file F]  ->  --model $KVC_SUITE_MODEL   (no network here: the
                                 model is a random-weight GGUF from kvc-mkmodel)

and adds --disk-dir (a per-port directory under $KVC_SUITE_TMP) so the runs'
cache rows stay out of ~/.cache. Environment (set by run.sh):
  KVC_SUITE_SERVER  the kvc-server binary
  KVC_SUITE_MODEL   the GGUF standing in for every model the suite names
  KVC_SUITE_TMP     a scratch directory
"""
import os
import sys


def main(argv):
    server = os.environ["KVC_SUITE_SERVER"]
    model = os.environ["KVC_SUITE_MODEL"]
    tmp = os.environ["KVC_SUITE_TMP"]
    out = []
    has_model = False
    port = "8080"
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--hf-repo", "-hf", "-hfr"):
            i += 2
            has_model = True
            continue
        if a in ("--hf-file", "-hff"):
            i += 2
            continue
        if a == "--port" and i + 1 < len(argv):
            port = argv[i + 1]
        if a in ("-m", "--model"):
            has_model = True
        out.append(a)
        i += 1
    if has_model and "--model" not in out and "-m" not in out:
        out = ["--model", model] + out
    out += ["--disk-dir", os.path.join(tmp, "rows-" + port)]
    os.execv(server, [server] + out)


if __name__ == "__main__":
    main(sys.argv[1:])
