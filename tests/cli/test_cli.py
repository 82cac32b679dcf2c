"""The CLI end to end on tiny runs, and its answers to bad input."""

import contextlib
import io
import re
import subprocess
import sys
import time

import pytest
from PIL import Image

from gankit import config as config_io
from gankit.cli import main
from gankit.presets import get_preset

TINY = [
    "--dataset",
    "shapes",
    "--img-size",
    "32",
    "--shapes-count",
    "96",
    "--g-width",
    "8",
    "--d-width",
    "8",
    "--z-dim",
    "16",
    "--embed-dim",
    "8",
    "--batch-size",
    "16",
    "--steps",
    "4",
    "--log-every",
    "2",
    "--sample-every",
    "2",
    "--checkpoint-every",
    "2",
    "--device",
    "cpu",
    "--quiet",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    printed = io.StringIO()  # a module fixture has no capsys: catch what train prints here
    with contextlib.redirect_stdout(printed):
        assert main(["train", "--preset", "fashion", "--out", str(out), *TINY]) == 0
    (out.parent / "train-output.txt").write_text(printed.getvalue())
    return out


def _error(capsys, argv, code=2):
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_train_prints_where_things_are(trained):
    assert (trained / "config.yaml").exists() and (trained / "losses.png").exists()
    assert sorted(p.name for p in (trained / "checkpoints").iterdir()) == [
        "step_0000002",
        "step_0000004",
    ]
    lines = (trained.parent / "train-output.txt").read_text().splitlines()
    assert lines[0] == f"training fashion -> {trained}"
    assert lines[1].startswith("finished at step 4/4 (")
    assert lines[2:] == [
        f"  samples:    {trained / 'samples' / 'step_0000004.png'}",
        f"  losses:     {trained / 'losses.png'}",
        f"  checkpoint: {trained / 'checkpoints' / 'step_0000004'}",
    ]


def test_generate_by_label_name_writes_a_grid(trained, tmp_path, capsys):
    out = tmp_path / "squares.png"
    assert main(["generate", str(trained), "--label", "Square", "--n", "6", "--out", str(out)]) == 0
    assert "6 images (square" in capsys.readouterr().out
    assert Image.open(out).mode == "RGB"


def test_generate_one_file_per_image_and_per_label_rows(trained, tmp_path, capsys):
    assert (
        main(["generate", str(trained), "--label", "2", "--n", "3", "--out", str(tmp_path / "d")])
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "triangle_seed00000.png",
        "triangle_seed00001.png",
        "triangle_seed00002.png",
    ]
    assert (
        main(
            [
                "generate",
                str(trained),
                "--n",
                "4",
                "--checkpoint",
                "2",
                "--out",
                str(tmp_path / "rows.png"),
            ]
        )
        == 0
    )
    assert "12 images (per-label, step 2)" in capsys.readouterr().out
    assert (
        main(
            [
                "generate",
                str(trained),
                "--interpolate",
                "--n",
                "5",
                "--seed",
                "3",
                "--out",
                str(tmp_path / "walk.png"),
            ]
        )
        == 0
    )


def test_same_seed_same_image(trained, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    main(["generate", str(trained), "--label", "0", "--n", "1", "--seed", "7", "--out", str(a)])
    main(["generate", str(trained), "--label", "0", "--n", "1", "--seed", "7", "--out", str(b)])
    assert a.read_bytes() == b.read_bytes()


def test_resume_with_more_steps(trained, capsys):
    assert main(["train", "--resume", str(trained), "--steps", "6", "--quiet"]) == 0
    assert "finished at step 6/6" in capsys.readouterr().out
    assert main(["train", "--resume", str(trained), "--quiet"]) == 0
    assert "already finished at step 6" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--preset", "fashon"], "unknown preset 'fashon' - did you mean 'fashion'"),
        (["train", "--arch", "dcgn", "--dataset", "shapes"], "unknown model 'dcgn'"),
        (["train", "--loss", "wgan-pg", "--dataset", "shapes"], "unknown loss 'wgan-pg'"),
        (["train", "--lr-g", "fast"], "--lr-g: expected a number"),
        (["train", "--dataset", "shapes", "--no-use-labels", "--shapes-count", "32"], "labelled"),
        (["train", "--preset", "fashion", "--config", "x.yaml"], "not both"),
        (["train", "--preset", "flowers-dcgan"], "pass --dataset PATH"),
        (["generate", "/nonexistent/run"], "does not exist"),
        (
            [
                "train",
                "--preset",
                "fashion-dcgan",
                "--dataset",
                "shapes",
                "--batch-size",
                "16",
                "--shapes-count",
                "96",
                "--img-size",
                "32",
                "--no-use-labels",
                "--eval-every",
                "2",
                "--out",
                "r",
            ],
            "--eval-every uses the dataset's classifier, so it needs a labelled dataset",
        ),
    ],
)
def test_bad_input_is_one_line(capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert message in _error(capsys, argv)
    assert not (tmp_path / "r").exists()  # nothing half made


def test_bad_generate_requests(trained, capsys):
    assert "no checkpoint at step 3" in _error(
        capsys, ["generate", str(trained), "--checkpoint", "3"]
    )
    assert (
        "unknown label 'boot'"
        in _error(capsys, ["generate", str(trained), "--label", "boot"]).lower()
    )
    assert "out of range" in _error(capsys, ["generate", str(trained), "--label", "7"])
    assert "--n must be" in _error(capsys, ["generate", str(trained), "--n", "0"])
    assert "cannot change when resuming" in _error(
        capsys, ["train", "--resume", str(trained), "--arch", "mlp"]
    )


def test_label_for_an_unconditional_run(tmp_path, capsys):
    out = tmp_path / "u"
    argv = ["train", "--preset", "fashion-dcgan", "--out", str(out), *TINY]
    assert main(argv) == 0
    assert "unconditional" in _error(capsys, ["generate", str(out), "--label", "circle"])


def test_presets_and_dry_run(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("fashion", "fashion-wgan-gp", "art-dcgan-128", "shapes-gan", "flowers-mlp"):
        assert name in out
    assert main(["train", "--preset", "mnist-wgan", "--lr-d", "1e-4", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "lr_d: 0.0001" in out and "loss: wgan" in out and "n_critic: 5" in out


def test_dry_run_shows_the_networks_and_stays_a_config(tmp_path, capsys):
    # The document's MNIST DCGAN (Figure 4-4), in its own table form: no data needed.
    assert main(["train", "--preset", "mnist-dcgan", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "# G: 855,809 parameters" in out and "# D: 392,833 parameters" in out
    assert "# Total params: 393,729" in out and "# conv2d_1 (Conv2D)" in out
    saved = tmp_path / "config.yaml"
    saved.write_text(out)  # the comments keep it a valid config
    assert config_io.load(saved) == get_preset("mnist-dcgan")
    # A conditional run counts its labels from the data; a resnet shows its FLOPs.
    argv = ["train", "--preset", "fashion", "--dataset", "shapes", "--arch", "resnet"]
    assert main([*argv, "--d-norm", "spectral", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"# G: [\d,]+ parameters, [\d.]+ [KMG]?FLOPs per image", out)
    assert main(["train", "--preset", "flowers-dcgan", "--dry-run"]) == 0
    assert "# networks: not built here (preset flowers-dcgan trains on an image folder" not in (
        capsys.readouterr().out
    )  # an unconditional folder net needs only the image size


def test_dataset_show_and_info(tmp_path, capsys):
    out = tmp_path / "shapes.png"
    assert main(["dataset", "show", "shapes", "--per-label", "5", "--out", str(out)]) == 0
    assert Image.open(out).size[0] >= 5 * 64
    assert main(["dataset", "info", "shapes"]) == 0
    assert "circle" in capsys.readouterr().out


@pytest.mark.slow  # a gankit subprocess
def test_sigterm_saves_a_checkpoint_and_exits(tmp_path):
    out = tmp_path / "run"
    argv = [
        sys.executable,
        "-m",
        "gankit",
        "train",
        "--preset",
        "fashion",
        "--out",
        str(out),
        *TINY,
        "--steps",
        "100000",
        "--checkpoint-every",
        "0",
        "--sample-every",
        "0",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # the first metrics flush means the loop is running
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    assert "interrupted at step" in stdout and "Traceback" not in stderr
    assert len(list((out / "checkpoints").iterdir())) == 1


def test_command_option_flags_come_from_their_fields():
    from gankit.cli import build_parser
    from gankit.cli.options import field_values
    from gankit.options import EvalOptions, Options

    parser = build_parser()
    args = parser.parse_args(["evaluate", "RUN"])
    values = field_values(args, EvalOptions)
    assert values == {**vars(EvalOptions()), "device": "auto"}  # the command picks a device
    args = parser.parse_args(
        ["evaluate", "RUN", "--checkpoints", "all", "--n", "500", "--no-classes"]
    )
    assert (args.checkpoint, args.n, args.classes) == ("all", 500, False)
    args = parser.parse_args(["reproduce", "003", "--scale", "0.5", "--quiet", "--out", "o"])
    opts = Options(**field_values(args, Options))
    assert (opts.scale, opts.progress, str(opts.out)) == (0.5, False, "o")
    assert field_values(parser.parse_args(["reproduce", "003"]), Options) == vars(Options())


def test_building_the_command_line_does_not_load_torch():
    code = "import sys; from gankit.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_warning_reaches_the_user_as_one_line(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(20):
        Image.new("RGB", (8, 8), (i * 10, 0, 0)).save(folder / f"ok{i}.png")
    (folder / "notes.png").write_text("not an image")
    assert main(["dataset", "info", str(folder)]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: warning: ") and "\n" not in err, err
    assert "notes.png" in err and "Warning" not in err
