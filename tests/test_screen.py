"""Catalyst screening: ranking and recall on hand-made cases, exactness of the frame-batched
surrogate, a real screen with EMT verification, resume after SIGKILL, bad input."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from phenograd.core.errors import InputError
from phenograd.datasets.catalyst import Composition, SlabSpec, adsorption_sites, build_slab, place_adsorbate
from phenograd.optimize.frames import Frame, FrameEvaluator, element_probs
from phenograd.optimize.objectives import Objective, Volcano, rank, recall_at_k
from phenograd.optimize.screen import screen, select_for_verification
from phenograd.optimize.screen_residuals import ResidualModel, candidate_features
from phenograd.optimize.space import enumerate_space, load_space, parse_space
from phenograd.surrogate.predict import load_surrogate

ROOT = Path(__file__).resolve().parents[1]
PHENOGRAD = [sys.executable, "-m", "phenograd"]


def run_cli(capsys, *args):
    """The command line in this process (same code path as the `phenograd` executable)."""
    from phenograd.cli import main

    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return subprocess.CompletedProcess(args, code, "", err)


# ----------------------------------------------------------------------------- ranking


def test_rank_and_recall_on_a_hand_made_case():
    assert rank([0.3, 0.1, float("nan"), 0.1, 0.2]) == [3, 0, 4, 1, 2]  # ties by index, NaN last
    true = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert recall_at_k(true, true, 3) == 1.0
    assert recall_at_k(true, [0.0, 0.1, 9.0, 0.3, 0.4, 0.5], 3) == pytest.approx(2 / 3)  # misses index 2
    assert recall_at_k(true, list(reversed(true)), 2) == 0.0
    obj = Objective(target={"O": -0.5})
    assert obj.score(-0.2, "O") == pytest.approx(0.3) and obj.score(-0.8, "O") == pytest.approx(0.3)
    v = Volcano(optimum=0.0, kT=0.1, weak_slope=1.0, strong_slope=2.0)
    assert v.score(0.2) == pytest.approx(0.2) and v.score(-0.2) == pytest.approx(0.4)
    assert v.activity(0.0) == 1.0 and v.activity(0.2) > v.activity(-0.2)


def test_verification_takes_the_top_and_the_most_uncertain_high_ranked():
    ranks = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    std = [0.1, 0.1, 0.5, 0.1, 0.2, 0.9, 0.1, 0.3, 0.1, 5.0]
    # top 2 -> indices 0, 1; the next ranks up to pool*top = 6 are 2..5; the most uncertain of them: 5, 2
    assert select_for_verification(ranks, std, top=2, uncertain=2, pool=3) == [0, 1, 2, 5]
    assert select_for_verification(ranks, std, top=3, uncertain=0) == [0, 1, 2]


# ----------------------------------------------------------------------------- exactness


@pytest.mark.parametrize(
    "model", ["catalyst_model", "catalyst_model_adsorbate_readout", "catalyst_model_element_reference"]
)
def test_frame_evaluator_equals_the_surrogate_on_concrete_structures(model, request):
    surrogate = load_surrogate(request.getfixturevalue(model), domain="catalyst")
    ev = FrameEvaluator(surrogate)
    for facet, ads in (("111", "OH"), ("100", "O")):
        structures = []
        for seed in range(2):
            slab = build_slab(
                SlabSpec(facet, "random", Composition.parse("Pt:0.5,Cu:0.25,Au:0.25"), (2, 2), 3, seed=seed)
            )
            structures += [place_adsorbate(slab, ads, s.xy) for s in adsorption_sites(slab)[:3]]
        ref = surrogate.predict_adsorption(structures)
        n = len(slab)
        probs = torch.stack([element_probs(a.get_chemical_symbols()[:n]) for a in structures])
        pos = np.stack([a.positions[n:] for a in structures])
        with torch.no_grad():
            mean, std = ev.mean_std(ev.predict(Frame.of(slab), probs, structures[0][n:].get_chemical_symbols(), pos))
        assert ref["E_ads"].std() > 1e-3  # the structures really differ in prediction
        assert torch.allclose(mean, ref["E_ads"], atol=1e-5), (mean, ref["E_ads"])
        assert torch.allclose(std, ref["std"], atol=1e-5)


@pytest.mark.parametrize("n_layers", [3, 4])
def test_screen_predictions_on_shared_clean_slabs_equal_the_surrogate(n_layers, untrained_catalyst_model, space_text):
    """predict_enumeration encodes each clean slab once and recomputes only the rows near the adsorbate, for every
    adsorbate and site: the same numbers as the surrogate on the concrete structures, at any depth."""
    from phenograd.optimize.screen import predict_enumeration

    surrogate = load_surrogate(untrained_catalyst_model("adsorbate", n_layers=n_layers), domain="catalyst")
    ev = FrameEvaluator(surrogate)
    assert ev.shares_slabs
    text = space_text.replace('adsorbates = ["O"]', 'adsorbates = ["O", "OH", "CO"]').replace(
        "decorations = 2", "decorations = 1"
    )
    enum = enumerate_space(parse_space(__import__("tomllib").loads(text)))
    assert len({c.adsorbate for c in enum.candidates}) == 3 and len(enum.candidates) >= 30
    mean, std = predict_enumeration(ev, enum, batch_size=4)  # several chunks of decorations and of candidates
    ref = surrogate.predict_adsorption([enum.atoms(c) for c in enum.candidates])
    assert ref["E_ads"].std() > 1e-3
    assert np.allclose(mean, ref["E_ads"].numpy(), atol=1e-5), np.abs(mean - ref["E_ads"].numpy()).max()
    assert np.allclose(std, ref["std"].numpy(), atol=1e-5)


def test_shared_clean_slab_path_gives_the_dense_paths_composition_gradient(untrained_catalyst_model):
    """Predictions on shared clean slabs are differentiable in the element probabilities, with the gradient of
    predict(), which evaluates every candidate by itself."""
    surrogate = load_surrogate(untrained_catalyst_model("adsorbate", n_layers=3), domain="catalyst")
    slab = build_slab(SlabSpec("111", "random", Composition.parse("Pt:0.5,Cu:0.5"), (2, 2), 3, seed=1))
    sites = adsorption_sites(slab)[:2]
    pos = np.stack([place_adsorbate(slab, "OH", s.xy).positions[len(slab) :] for s in sites])
    grads = []
    for shared in (True, False):
        ev = FrameEvaluator(surrogate)
        probs = element_probs(slab.get_chemical_symbols())[None].repeat(2, 1, 1) * 0.9 + 0.1 / 83
        probs.requires_grad_(True)
        if shared:
            members = ev.predict_on(ev.clean_slabs(Frame.of(slab), probs), torch.arange(2), ["O", "H"], pos)
        else:
            members = ev.predict(Frame.of(slab), probs, ["O", "H"], pos)
        ev.mean_std(members)[0].sum().backward()
        grads.append(probs.grad)
    assert grads[0].abs().max() > 1e-3
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_clean_slabs_of_several_frames_in_one_call_equal_the_surrogate(untrained_catalyst_model):
    """Decorations of slabs with different lattice constants (frames of one shape) share one clean pass and one
    predict_on call, candidates given in any order of frames: the surrogate's own numbers on the structures."""
    surrogate = load_surrogate(untrained_catalyst_model("adsorbate", n_layers=3), domain="catalyst")
    ev = FrameEvaluator(surrogate)
    slabs = [
        build_slab(SlabSpec("111", "random", Composition.parse(c), (2, 2), 3, seed=i))
        for i, c in enumerate(["Pt:0.5,Cu:0.5", "Au:1", "Au:0.5,Cu:0.5"])
    ]
    frames = [Frame.of(slab) for slab in slabs]
    assert len({f.key for f in frames}) == 3  # three lattice constants
    probs = torch.stack([element_probs(slab.get_chemical_symbols()) for slab in slabs])
    clean = ev.clean_slabs(frames, probs, frame_of=[0, 1, 2])
    order = [2, 0, 1, 0, 2]  # decorations of candidates, not grouped by frame
    structures = [place_adsorbate(slabs[d], "OH", adsorption_sites(slabs[d])[j % 2].xy) for j, d in enumerate(order)]
    n = len(slabs[0])
    pos = np.stack([a.positions[n:] for a in structures])
    with torch.no_grad():
        mean, std = ev.mean_std(ev.predict_on(clean, torch.tensor(order), ["O", "H"], pos))
    ref = surrogate.predict_adsorption(structures)
    assert torch.allclose(mean, ref["E_ads"], atol=1e-6), (mean, ref["E_ads"])
    assert torch.allclose(std, ref["std"], atol=1e-6)
    with torch.no_grad():  # the same adsorbates on the wrong decorations (an untrained model varies little)
        wrong, _ = ev.mean_std(ev.predict_on(clean, torch.tensor([0, 1, 2, 1, 0]), ["O", "H"], pos))
    assert (wrong - ref["E_ads"]).abs().max() > 1e-4
    with pytest.raises(ValueError, match="non-decreasing"):
        ev.clean_slabs(frames, probs, frame_of=[1, 0, 2])
    other = build_slab(SlabSpec("111", "random", Composition.parse("Pt:1"), (2, 2), 4, seed=0))
    with pytest.raises(ValueError, match="share atom count"):
        ev.clean_slabs([frames[0], Frame.of(other)], probs[:1])


def test_clean_slab_sharing_refuses_a_head_that_reads_every_atom(catalyst_model):
    ev = FrameEvaluator(load_surrogate(catalyst_model, domain="catalyst"))
    slab = build_slab(SlabSpec("111", "random", Composition.parse("Pt:1"), (2, 2), 3, seed=0))
    assert not ev.shares_slabs
    with pytest.raises(InputError, match="reads only the adsorbate"):
        ev.clean_slabs(Frame.of(slab), element_probs(slab.get_chemical_symbols())[None])


# ----------------------------------------------------------------------------- screening


def test_space_enumeration_counts_and_structures(tmp_path, space_text):
    space = parse_space(__import__("tomllib").loads(space_text))
    enum = enumerate_space(space)
    # 3 pure + 3 pairs x 1 composition x 2 decorations = 9 slabs, each with its fcc and hcp sites
    assert len(enum.slabs) == 9 and len(enum.frames) == 6  # 3 pure + 3 binaries (decorations share a frame)
    assert len(enum.candidates) >= 18 and {c.site for c in enum.candidates} == {"fcc", "hcp"}
    c = enum.candidates[-1]
    atoms = enum.atoms(c)
    assert np.allclose(atoms.positions[-1], c.ads_positions[0]) and atoms.get_tags()[-1] == 2


@pytest.mark.slow
def test_screen_verifies_the_top_and_resumes_without_redoing(tmp_path, catalyst_model, write_space):
    space = write_space()
    out = tmp_path / "results.db"
    r = screen(space, out, model=catalyst_model, top=3, uncertain=1, verify=True, workers=1, steps=60)
    assert r.n_candidates >= 18 and out.exists() and out.with_suffix(".png").stat().st_size > 1000
    assert len(r.selected) == 4 and r.verified_now == 4 and not r.resumed
    assert r.selected[:3] == list(np.argsort(r.rank)[:3])
    ver = ~np.isnan(r.e_verified)
    assert set(np.flatnonzero(ver)) <= set(r.selected) and ver.sum() >= 3  # EMT relaxations ran
    assert np.all(np.abs(r.e_verified[ver]) < 10)
    conn = sqlite3.connect(out)
    rows = [json.loads(k) for (k,) in conn.execute("SELECT key_value_pairs FROM systems")]
    conn.close()
    assert len(rows) == r.n_candidates and sorted(k["idx"] for k in rows) == list(range(r.n_candidates))
    assert sum(k["verified"] for k in rows) == 4
    again = screen(space, out, model=catalyst_model, top=3, uncertain=1, verify=True, workers=1, steps=60)
    assert again.resumed and again.verified_now == 0
    assert np.array_equal(np.nan_to_num(again.e_verified), np.nan_to_num(r.e_verified))
    more = screen(space, out, model=catalyst_model, top=5, uncertain=0, verify=True, workers=1, steps=60)
    assert more.verified_now == len(set(more.selected) - set(r.selected))


def test_offset_correction_verifies_in_two_rounds_and_resumes(tmp_path, catalyst_model, write_space):
    space = write_space()
    out = tmp_path / "results.db"
    r = screen(
        space,
        out,
        model=catalyst_model,
        top=4,
        uncertain=0,
        verify=True,
        workers=1,
        steps=60,
        correct_offset=True,
        plot=False,
    )
    conn = sqlite3.connect(out)
    rows = {k["idx"]: k for k in (json.loads(v) for (v,) in conn.execute("SELECT key_value_pairs FROM systems"))}
    conn.close()
    raw_order = sorted(rows, key=lambda i: rows[i]["rank"])  # the raw ranking decides the first round
    first = raw_order[:2]
    assert r.selected[:2] == first and len(r.selected) == 4 and r.verified_now == 4
    residual = np.mean([rows[i]["e_verified"] - rows[i]["e_pred"] for i in first])
    assert r.offset["O"] == pytest.approx(residual, abs=1e-9)
    corrected = np.abs(r.e_pred + residual - (-1.0))
    assert np.allclose(r.score, corrected)
    rest = [i for i in np.argsort(corrected, kind="stable") if i not in first][:2]
    assert r.selected[2:] == rest
    again = screen(
        space,
        out,
        model=catalyst_model,
        top=4,
        uncertain=0,
        verify=True,
        workers=1,
        steps=60,
        correct_offset=True,
        plot=False,
    )
    assert again.resumed and again.verified_now == 0 and again.selected == r.selected


def test_residual_rounds_verify_round_by_round_and_resume(tmp_path, catalyst_model, write_space):
    space = write_space()
    out = tmp_path / "results.db"
    kwargs = dict(model=catalyst_model, top=4, uncertain=0, verify=True, workers=1, steps=60, plot=False)
    r = screen(space, out, residual_rounds=2, **kwargs)
    conn = sqlite3.connect(out)
    rows = {k["idx"]: k for k in (json.loads(v) for (v,) in conn.execute("SELECT key_value_pairs FROM systems"))}
    conn.close()
    first = sorted(rows, key=lambda i: rows[i]["rank"])[:2]  # the raw ranking decides the first round
    assert r.selected[:2] == first and len(set(r.selected)) == 4 and r.verified_now == 4
    # the final scores of unverified candidates are those of predictions corrected by the model of all four
    loaded = load_space(space)
    x = candidate_features(enumerate_space(loaded), loaded.metals)
    done = [i for i in r.selected if not np.isnan(r.e_verified[i])]
    model = ResidualModel().fit(x[done], r.e_verified[done] - r.e_pred[done], r.e_pred[done])
    corrected = r.e_pred + model.predict(x, r.e_pred)
    assert np.allclose(r.score, np.abs(corrected - (-1.0)))
    again = screen(space, out, residual_rounds=2, **kwargs)
    assert again.resumed and again.verified_now == 0 and again.selected == r.selected
    with pytest.raises(InputError, match="choose one"):
        screen(space, tmp_path / "other.db", residual_rounds=2, correct_offset=True, **kwargs)


@pytest.mark.slow
def test_killed_screen_resumes_with_nothing_lost_or_redone(tmp_path, catalyst_model, write_space):
    space = write_space()
    out = tmp_path / "killed.db"
    args = [
        "screen",
        "--space",
        space,
        "--out",
        out,
        "--model",
        catalyst_model,
        "--top",
        "8",
        "--uncertain",
        "0",
        "--verify",
        "--workers",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        [*PHENOGRAD, *map(str, args)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    before = {}
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if out.exists():
            try:
                conn = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
                before = {
                    json.loads(k)["idx"]: json.loads(k).get("e_verified")
                    for (k,) in conn.execute("SELECT key_value_pairs FROM systems")
                    if json.loads(k).get("verified")
                }
                conn.close()
            except sqlite3.Error:
                continue
            if before:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert before, "the screen finished or never verified anything before the kill"
    r = screen(space, out, model=catalyst_model, top=8, uncertain=0, verify=True, workers=1)
    assert r.resumed and r.verified_now == len(r.selected) - len(before) < len(r.selected)
    for i, e in before.items():  # results from before the kill are kept, not recomputed
        assert (e is None and np.isnan(r.e_verified[i])) or r.e_verified[i] == e


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "edit, message",
    [
        (('["Pt", "Cu", "Au"]', '["Pt", "Unobtainium"]'), "unknown element"),
        (('["Pt", "Cu", "Au"]', '["Pt", "Fe"]'), "Fe is not an fcc metal"),
        (('["Pt", "Cu", "Au"]', '["Pt", "Rh"]'), "calculator emt cannot handle Rh"),  # the model's labels are EMT's
        (("n_metals = [1, 2]", "n_metals = []"), "no valid candidate"),
        (('sites = ["fcc", "hcp"]', 'sites = ["hollow"]'), "site kind 'hollow'"),
        (("target = -1.0", ""), "no [objective]"),
        (("step = 0.5", "step = 0.3"), "step must be 1/n"),
        ("metals = [", "not a valid TOML"),
    ],
)
def test_bad_spaces_give_one_line_errors(tmp_path, capsys, catalyst_model, write_space, space_text, edit, message):
    text = space_text.replace(*edit) if isinstance(edit, tuple) else edit
    space = write_space(text)
    out = tmp_path / "bad.db"
    r = run_cli(capsys, "screen", "--space", space, "--out", out, "--model", catalyst_model)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists()


def test_wrong_model_foreign_out_and_flagged_target(tmp_path, capsys, catalyst_model, write_space, space_text):
    space = write_space()
    r = run_cli(
        capsys, "screen", "--space", space, "--out", tmp_path / "a.db", "--model", ROOT / "surrogate/models/airfoil.pt"
    )
    assert r.returncode == 2 and "airfoil model" in r.stderr and "Traceback" not in r.stderr
    foreign = tmp_path / "foreign.db"
    foreign.write_text("not a database")
    r = run_cli(capsys, "screen", "--space", space, "--out", foreign, "--model", catalyst_model)
    assert r.returncode == 2 and "not a screening results file" in r.stderr and foreign.read_text() == "not a database"
    far = write_space(space_text.replace("target = -1.0", "target = 7.0"), "far.toml")
    res = screen(far, tmp_path / "far.db", model=catalyst_model, top=2)
    assert res.flags and "outside the E_ads range" in res.flags[0]
    with pytest.raises(InputError, match="another space"):  # same file, other space: refused, not mixed
        screen(space, tmp_path / "far.db", model=catalyst_model, top=2)


@pytest.mark.slow
def test_a_lock_file_left_by_a_killed_run_does_not_block_the_restart(tmp_path, catalyst_model, write_space):
    """SIGKILL while ASE was writing left `results.db.partial.lock` (and a hot journal) behind; the
    restart waited on ASE's lock file forever (found by benchmarks/faults.py). Now none is taken:
    SQLite's own locking guards the one writer."""
    space = write_space()
    out = tmp_path / "results.db"
    (tmp_path / "results.db.partial.lock").write_bytes(b"")
    (tmp_path / "results.db.lock").write_bytes(b"")
    run = subprocess.run(
        [
            *PHENOGRAD,
            *map(
                str,
                [
                    "screen",
                    "--space",
                    space,
                    "--out",
                    out,
                    "--model",
                    catalyst_model,
                    "--top",
                    "4",
                    "--uncertain",
                    "0",
                    "--verify",
                    "--workers",
                    "1",
                    "--no-progress",
                ],
            ),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    conn = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
    verified = sum(bool(json.loads(k).get("verified")) for (k,) in conn.execute("SELECT key_value_pairs FROM systems"))
    conn.close()
    assert verified == 4
