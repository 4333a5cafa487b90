"""Reading flow input: gzip by magic bytes, a truncated gzip or a cut last line ends
cleanly, bad lines are counted and reported once per kind, stdin, --follow on a pipe."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.drops.read import BadLines, read_flows
from tests.drops.helpers import endpoint, hubble

REPO = Path(__file__).resolve().parent.parent.parent
WEB = endpoint("shop", "web-7c9f8d6b5-abcde", {"app": "web"})
API = endpoint("shop", "api-6d8f7c9b4-xyz12", {"app": "api"})
LINES = [hubble(src=WEB, dst=API, port=8080, time=f"2026-03-01T10:00:{i:02d}Z")
         for i in range(20)]
POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""


def test_gzip_is_recognised_by_its_magic_bytes_not_its_name(tmp_path: Path) -> None:
    path = tmp_path / "flows.log"  # no .gz
    path.write_bytes(gzip.compress("\n".join(LINES).encode() + b"\n"))
    bad = BadLines()
    assert len(list(read_flows([str(path)], bad))) == 20
    assert bad.total == 0 and not bad.notes


def test_a_truncated_gzip_ends_cleanly_with_what_was_read(tmp_path: Path) -> None:
    many = [hubble(src=WEB, dst=API, port=1000 + i, time=f"2026-03-01T10:{i // 60:02d}:"
                   f"{i % 60:02d}.{i * 7919 % 1000000:06d}Z") for i in range(2000)]
    data = gzip.compress(("\n".join(many) + "\n").encode())
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    bad = BadLines()
    flows = list(read_flows([str(path)], bad))
    assert 100 < len(flows) < 2000
    assert [f.port for f in flows] == list(range(1000, 1000 + len(flows)))
    assert any("compressed input ends early" in note for note in bad.notes)


def test_a_stream_cut_mid_line_keeps_the_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    text = "\n".join(LINES[:3]) + "\n" + LINES[3][:40]
    path.write_text(text)
    bad = BadLines()
    assert len(list(read_flows([str(path)], bad))) == 3
    assert bad.total == 0
    assert bad.notes == [(f"{path}:4: warning: the input ends in the middle of a line; that "
                         "line was left out")]


def test_bad_lines_are_counted_and_reported_once_per_kind_with_the_line(
        tmp_path: Path) -> None:
    path = tmp_path / "mixed.json"
    path.write_text("\n".join([LINES[0], "garbage", "{oops", LINES[1], "more garbage",
                               '{"a": 1}', ""]) + "\n")
    reported: list[str] = []
    bad = BadLines()
    assert len(list(read_flows([str(path)], bad, on_bad=reported.append))) == 2
    assert bad.counts == {"text that is no cilium monitor drop line": 2,
                          "not valid JSON": 1, "JSON object of no known flow format": 1}
    assert reported[0] == (f"{path}:2: warning: not a flow of a known format: text that is "
                           "no cilium monitor drop line")
    assert len(reported) == 3 and reported[1].startswith(f"{path}:3: ")


def test_cli_bad_input_never_a_traceback_and_the_other_inputs_are_read(
        tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(POLICY)
    good = tmp_path / "good.json"
    good.write_text(LINES[0] + "\n")
    (tmp_path / "bin.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = CliRunner().invoke(main, ["drops", str(tmp_path / "repo.yaml"),
                                       "--flows", str(tmp_path / "missing.json"),
                                       "--flows", str(tmp_path / "bin.gz"),
                                       "--flows", str(good)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2
    assert f"{tmp_path / 'missing.json'}: error: cannot read flows" in result.stderr
    assert "compressed input ends early" in result.stderr
    assert "DROPPED x1" in result.stdout


def test_a_file_of_no_known_format_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(POLICY)
    (tmp_path / "x.csv").write_text("a,b,c\n1,2,3\n")
    result = CliRunner().invoke(main, ["drops", str(tmp_path / "repo.yaml"), "--flows",
                                       str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "no line of the flow input is a flow of a known format" in result.stderr


def test_flows_from_stdin(tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(POLICY)
    result = CliRunner().invoke(main, ["drops", str(tmp_path / "repo.yaml"), "--flows", "-",
                                       "--format", "json"], input="\n".join(LINES) + "\n")
    data = json.loads(result.stdout)
    assert data["drops"][0]["count"] == 20 and result.exit_code == 1


def test_follow_on_a_pipe_prints_each_new_group_as_it_comes_and_a_summary_at_the_end(
        tmp_path: Path) -> None:
    (tmp_path / "repo.yaml").write_text(POLICY)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "netpol_fix", "drops",
                             str(tmp_path / "repo.yaml"), "--flows", "-", "--follow"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write((LINES[0] + "\n").encode())
    proc.stdin.flush()
    first = proc.stdout.readline().decode()  # printed before the input ends
    assert first.startswith("NEW DROPPED x1  shop/web[Deployment] -> shop/api[Deployment]")
    # the same group again: nothing new; another group: printed
    other = hubble(src=API, dst=WEB, port=9090)
    proc.stdin.write(("\n".join([LINES[1], LINES[2], other]) + "\n").encode())
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    seen = ""
    while "shop/api[Deployment] -> shop/web[Deployment]" not in seen:
        assert time.monotonic() < deadline
        seen += proc.stdout.readline().decode()
    proc.stdin.close()
    rest = proc.stdout.read().decode()
    assert proc.wait(timeout=60) == 1
    assert "NEW DROPPED" not in rest
    assert rest.strip().endswith("2 group(s) of 4 dropped flow(s): 2 explained by the "
                                 "sources; 0 forwarded flow(s) counted.")


def test_pretty_printed_json_objects_are_read_whole(tmp_path: Path) -> None:
    """`hubble observe -o json | jq .` prints each flow over many lines, from `{` to `}`."""
    path = tmp_path / "pretty.json"
    pretty = "".join(json.dumps(json.loads(line), indent=2) + "\n" for line in LINES[:3])
    path.write_text(pretty + LINES[3] + "\n")
    bad = BadLines()
    flows = list(read_flows([str(path)], bad))
    assert [f.time for f in flows] == [f"2026-03-01T10:00:0{i}Z" for i in range(4)]
    assert bad.total == 0
    cut = tmp_path / "cut-pretty.json"
    cut.write_text(pretty + "{\n  \"flow\": {\n")
    bad = BadLines()
    assert len(list(read_flows([str(cut)], bad))) == 3
    assert bad.notes == [(f"{cut}:{pretty.count(chr(10)) + 1}: warning: the input ends inside "
                         "a multi-line JSON object; it was left out")]
