"""The fastmlp command: train (defaults and options), info, errors, python -m fastmlp."""

import pytest

import fastmlp
from fastmlp import cli
from conftest import child_python



def test_train_small_run(capsys, tmp_path):
    path = str(tmp_path / "m.npz")
    code = cli.main(["train", "--epochs", "2", "--hidden", "16", "--batch-size", "64", "--save", path])
    out = capsys.readouterr().out
    assert code == 0
    assert "Epoch 1/2 - loss" in out and "Epoch 2/2" in out
    assert "test accuracy:" in out and "training time:" in out and "saved to" in out
    model = fastmlp.load(path)
    assert model.sizes == [784, 16, 10]


def test_train_options(capsys):
    old = fastmlp.get_backend()
    try:
        code = cli.main(["train", "--sizes", "784,12,8,10", "--activation", "tanh", "--optimizer", "momentum",
                         "--lr", "0.05", "--epochs", "1", "--batch-size", "50", "--batchnorm", "--dropout", "0.1",
                         "--l2", "1e-4", "--seed", "3", "--schedule", "cosine", "--threads", "1", "--backend", "reference", "--dtype", "float64"])
    finally:
        fastmlp.set_backend(old)
        fastmlp._config._num_threads = None
    out = capsys.readouterr().out
    assert code == 0
    assert "MLP [784, 12, 8, 10] tanh batchnorm, dropout 0.1, l2 0.0001" in out and "backend reference" in out
    assert "SGD lr 0.05 cosine" in out


def test_train_quiet(capsys):
    assert cli.main(["train", "--epochs", "1", "--hidden", "8", "--batch-size", "200", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("test accuracy:") and len(out) == 2


def test_train_refuses_wrong_sizes(capsys):
    assert cli.main(["train", "--sizes", "100,10", "--epochs", "1"]) == 2
    assert "784" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["fly"], ["train", "--epochs", "-1"], ["train", "--lr", "0"],
                                  ["train", "--dropout", "1"], ["train", "--hidden", "0"], ["train", "--threads", "0"],
                                  ["train", "--activation", "gelu"], ["train", "--batch-size", "x"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2 and capsys.readouterr().err.strip()


def test_info(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "version" in out and "backend" in out and "isa" in out


def test_python_dash_m():
    res = child_python(["-m", "fastmlp", "info"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "version" in res.stdout
    res = child_python(["-m", "fastmlp", "train", "--epochs", "-1"], capture_output=True, text=True,
                       timeout=120)
    assert res.returncode == 2 and "epochs" in res.stderr
