"""Triton's own Python client (tritonclient[http], from PyPI) against loomd's TCP listener.

    triton_client_test.py HOST:PORT

Uses only the client's public API, unchanged: server and model metadata,
readiness, inference with JSON tensors and with the binary data extension.
Prints one ok/FAIL line per check and ends with "N passed, N failed".
"""
import sys

import numpy as np
import tritonclient.http as httpclient

passed = failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   triton: {name}")
    except Exception as e:  # any failure, assertion or client error, is one failed check
        failed += 1
        print(f"FAIL triton: {name}: {type(e).__name__}: {e}")


def main():
    url = sys.argv[1]
    c = httpclient.InferenceServerClient(url=url)

    def live():
        assert c.is_server_live()

    def ready():
        assert c.is_server_ready()

    def server_meta():
        m = c.get_server_metadata()
        assert m["name"] == "loomd" and "binary_tensor_data" in m["extensions"], m

    def model_meta():
        m = c.get_model_metadata("simple")
        assert [i["name"] for i in m["inputs"]] == ["INPUT0", "INPUT1"], m
        assert m["inputs"][0]["datatype"] == "INT32" and m["inputs"][0]["shape"] == [-1, 16], m

    def model_ready():
        assert c.is_model_ready("simple")
        assert c.is_model_ready("tiny", "1")
        assert not c.is_model_ready("no_such_model")

    def model_config():
        cfg = c.get_model_config("simple")
        assert cfg["max_batch_size"] == 8 and cfg["input"][0]["dims"] == [16], cfg

    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    b = np.full((1, 16), 5, dtype=np.int32)

    def infer(binary):
        inputs = [httpclient.InferInput("INPUT0", [1, 16], "INT32"),
                  httpclient.InferInput("INPUT1", [1, 16], "INT32")]
        inputs[0].set_data_from_numpy(a, binary_data=binary)
        inputs[1].set_data_from_numpy(b, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary),
                   httpclient.InferRequestedOutput("OUTPUT1", binary_data=binary)]
        r = c.infer("simple", inputs, outputs=outputs, request_id="triton-1")
        assert np.array_equal(r.as_numpy("OUTPUT0"), a + b)
        assert np.array_equal(r.as_numpy("OUTPUT1"), a - b)
        assert r.get_response()["id"] == "triton-1"

    def infer_float_batch():
        x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(4, 16)
        inp = httpclient.InferInput("x", [4, 16], "FP32")
        inp.set_data_from_numpy(x)
        r = c.infer("tiny", [inp], model_version="1")
        np.testing.assert_allclose(r.as_numpy("y"), 2 * x + 1, rtol=1e-6)

    def infer_error():
        inp = httpclient.InferInput("x", [1, 15], "FP32")
        inp.set_data_from_numpy(np.zeros((1, 15), np.float32))
        try:
            c.infer("tiny", [inp])
        except Exception as e:
            assert "shape" in str(e), e
            return
        raise AssertionError("a wrong shape was accepted")

    def stats():
        s = c.get_inference_statistics("simple")
        assert s["model_stats"][0]["inference_stats"]["success"]["count"] >= 1, s

    for name, fn in [("server live", live), ("server ready", ready),
                     ("server metadata", server_meta), ("model metadata", model_meta),
                     ("model readiness", model_ready), ("model config", model_config),
                     ("infer with JSON tensors", lambda: infer(False)),
                     ("infer with binary tensors", lambda: infer(True)),
                     ("infer FP32 batch on version 1", infer_float_batch),
                     ("error message for a bad shape", infer_error),
                     ("inference statistics", stats)]:
        check(name, fn)
    c.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
