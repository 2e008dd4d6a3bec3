#!/usr/bin/env python3
"""The pull-request comment of a `pulumi preview --diff`, as the Pull request
workflow's preview step (pulumi/actions with comment-on-pr) posts it, and the
sample of one in docs/operations.md.

    pr_comment.py render PROJECT STACK [SOCKET] <PREVIEW >COMMENT
        the preview's output wrapped as the action wraps it: a heading, then
        the report in a collapsed <details>; SOCKET, the path of the test
        engine's socket, reads as Docker's default, /var/run/docker.sock
    pr_comment.py check DOC COMMENT [--update]
        compares COMMENT with the sample between DOC's markers; with
        --update, writes COMMENT there instead

render leaves out, of the preview's output, what only this machine's runs
print: the engine kit's "warning: using pulumi-... from $PATH at ..." lines
(a runner that downloads its plugins prints none) and the progress lines
("@ previewing update...."), whose dots count seconds; and it writes the
socket of a Docker engine the test started beside the system's as the
default socket, which the stack mounts into its Docker API proxy. The rest
is as pulumi printed it.

check compares what stays the same from one run to the next: ids that are
new on each deploy (container ids, a provider's id, an image built again)
are masked on both sides, and the program's warnings, which the engine
prints as they come, are compared as a set. Anything else that differs
(another change, another resource count, another warning) is a sample out
of date.
"""

import difflib
import re
import sys

START = "<!-- pr-comment: generated from a real preview by tests/e2e/deploy-local.sh (phase 8); E2E_UPDATE_DOCS=1 writes it again -->"
END = "<!-- /pr-comment -->"
FENCE = "~~~~markdown"

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
ENGINE_KIT = re.compile(r"warning: using pulumi-\S+ from \$PATH at ")
PROGRESS = re.compile(r"^@ ")
DEFAULT_SOCKET = "/var/run/docker.sock"


def render(project, stack, preview, socket=None):
    if socket and socket != DEFAULT_SOCKET:
        preview = preview.replace(socket, DEFAULT_SOCKET)
    lines = []
    for line in ANSI.sub("", preview).splitlines():
        if ENGINE_KIT.search(line) or PROGRESS.match(line):
            continue
        lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    report = "\n".join(lines)
    # pulumi/actions, src/libs/pr.ts (handlePullRequestMessage).
    return (
        f"#### :tropical_drink: `preview` on {project}/{stack}\n"
        "\n"
        "<details>\n"
        "<summary>Pulumi report</summary>\n"
        "\n"
        "<pre>\n"
        f"{report}\n"
        "</pre>\n"
        "\n"
        "</details>\n"
    )


UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{10,64}(?![0-9A-Za-z])")
# A warning, on a line of its own or after the stack's name.
WARNING = re.compile(r"^\s*(pulumi:pulumi:Stack \S+( running)?\s+)?warning: ")


def normalize(comment):
    """The lines that stay from run to run: ids masked; the warnings apart,
    sorted."""
    lines, warnings = [], []
    for line in comment.splitlines():
        line = HEX.sub("<id>", UUID.sub("<uuid>", line))
        if WARNING.match(line):
            warnings.append(line.strip())
        else:
            lines.append(line)
    return lines + ["--- warnings, in any order:"] + sorted(warnings)


def doc_sample(doc):
    start, end = doc.find(START), doc.find(END)
    if start < 0 or end < start:
        sys.exit(f"pr_comment.py: the doc has no sample between\n  {START}\nand\n  {END}")
    body = doc[start + len(START):end].strip("\n")
    if not (body.startswith(FENCE + "\n") and body.endswith("\n~~~~")):
        sys.exit(f"pr_comment.py: the sample is not in a {FENCE} block")
    return start, end, body[len(FENCE) + 1:-len("~~~~")]


def check(doc_path, comment_path, update):
    doc = open(doc_path).read()
    comment = open(comment_path).read()
    start, end, sample = doc_sample(doc)
    if update:
        doc = doc[:start] + START + "\n" + FENCE + "\n" + comment + "~~~~\n" + doc[end:]
        with open(doc_path, "w") as f:
            f.write(doc)
        print(f"wrote the sample into {doc_path}")
        return 0
    want, got = normalize(sample), normalize(comment)
    if want == got:
        return 0
    sys.stdout.writelines(
        line + "\n" for line in difflib.unified_diff(want, got, "the sample in " + doc_path, "this run's comment", lineterm="")
    )
    return 1


def main(argv):
    if len(argv) in (3, 4) and argv[0] == "render":
        sys.stdout.write(render(argv[1], argv[2], sys.stdin.read(), *argv[3:]))
        return 0
    if len(argv) in (3, 4) and argv[0] == "check" and argv[3:] in ([], ["--update"]):
        return check(argv[1], argv[2], argv[3:] == ["--update"])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
