"""The fixed-topology airfoil path (encoder.StackedEncoders, AirfoilSurrogate(fast=True)) against the graph path:
the same predictions and the same gradients with respect to CST weights and contour points."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from phenograd.datasets.airfoil import naca
from phenograd.datasets.cst import cst_coordinates
from phenograd.surrogate.encoder import FixedTopology, FixedTopologyMessages
from phenograd.surrogate.graphs import AIRFOIL_NODES, airfoil_edges, airfoil_graph_from_cst, airfoil_nodes_from_cst
from phenograd.surrogate.model import build_ensemble, default_encoder_config
from phenograd.surrogate.predict import AirfoilSurrogate, airfoil_topology, load_surrogate

CST = torch.tensor(
    [
        [
            0.17,
            0.22,
            0.18,
            0.25,
            0.16,
            0.21,
            0.17,
            0.19,
            -0.15,
            -0.10,
            -0.12,
            -0.06,
            -0.10,
            -0.02,
            -0.04,
            0.0,
            0.0,
            0.0025,
        ],
        [0.13, 0.16, 0.17, 0.2, 0.16, 0.22, 0.2, 0.2, -0.13, -0.12, -0.2, -0.1, -0.25, -0.05, -0.03, 0.03, 0.05, 0.002],
        [0.1, 0.12, 0.1, 0.12, 0.1, 0.12, 0.1, 0.12, -0.1, -0.12, -0.1, -0.12, -0.1, -0.12, -0.1, -0.12, 0.0, 0.0],
    ],
    dtype=torch.float64,
)
ALPHA = [-3.0, 0.0, 5.0, 11.0]


def pair(model: AirfoilSurrogate) -> tuple[AirfoilSurrogate, AirfoilSurrogate]:
    """The same ensemble through the fast path and through the graph path."""
    return AirfoilSurrogate(model.ensemble, model.info, fast=True), AirfoilSurrogate(
        model.ensemble, model.info, fast=False
    )


@pytest.fixture(scope="module", params=[True, False], ids=["painn", "invariant"])
def random_model(request):
    """Untrained float64 ensemble of 3 members, with the station readout and station y in its heads (the paths
    through AirfoilHead.shape_embedding) and output weights large enough that predictions differ visibly; with
    PaiNN's vector channels and without them (the invariant encoder)."""
    torch.manual_seed(1)
    vectors = {} if request.param else {"vectors": False}
    ens = build_ensemble(
        "airfoil",
        n_members=3,
        encoder={**default_encoder_config("airfoil", hidden=16, n_layers=2), **vectors},
        head={"hidden": 16, "width": 32, "depth": 2, "stations": 2, "station_y": True},
    )
    return AirfoilSurrogate(ens.double().eval(), {"meta": {"std_scale": {"CL": 1.5}}})


@pytest.fixture(scope="module")
def shipped():
    return load_surrogate(domain="airfoil")


def test_fixed_topology_holds_every_edge_once():
    edges = airfoil_edges()
    top = FixedTopology(edges, AIRFOIL_NODES)
    real = top.pair < top.n_pairs
    centre = torch.arange(AIRFOIL_NODES)[:, None].expand_as(top.neighbours)
    table = sorted(zip(top.neighbours[real].tolist(), centre[real].tolist()))
    assert table == sorted(zip(edges[0].tolist(), edges[1].tolist()))
    assert torch.equal(top.neighbours[~real], centre[~real])  # padding slots point at their own node
    a, b = top.pair_slot // top.k, top.neighbours.flatten()[top.pair_slot]
    assert 2 * top.n_pairs == edges.shape[1] and torch.all(a != b)
    with pytest.raises(ValueError, match="each direction"):
        FixedTopology(edges[:, :-1], AIRFOIL_NODES)


def test_the_message_sum_backward_by_finite_differences():
    """FixedTopologyMessages' hand-written backward (gathers at the neighbour, the pair's two ends) against
    finite differences in every input, with vectors and without, on a graph whose nodes have 1 to 4 neighbours
    (padding slots) and directions from node positions (unit_ji = -unit_ij, which the backward relies on)."""
    torch.manual_seed(0)
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 2), (0, 3), (2, 5), (5, 6)]
    src, dst = zip(*(edges + [(b, a) for a, b in edges]))
    top = FixedTopology(torch.tensor([src, dst]), 7)
    assert top.k == 4 and bool((top.pair == top.n_pairs).any())
    pos = torch.randn(2, 7, 2, dtype=torch.float64)
    vec = pos[:, top.neighbours] - pos[:, :, None]  # (B, N, K, 2); zero at padding slots
    unit = vec / vec.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    m, f = 2, 3
    filt = torch.randn(m, 2, top.n_pairs, 3 * f, dtype=torch.float64, requires_grad=True)
    phi = torch.randn(m, 2, 7, 3 * f, dtype=torch.float64, requires_grad=True)
    v = torch.randn(m, 2, 7, 2, f, dtype=torch.float64, requires_grad=True)
    tables = (top.columns, top.pair_columns, top.ends, top.pair_slot)

    def messages(filt, phi, v, unit):  # the padding pair's zero filter row appended, as the encoder does
        return FixedTopologyMessages.apply(torch.nn.functional.pad(filt, (0, 0, 0, 1)), phi, v, unit, *tables)

    unit = unit.requires_grad_(True)
    assert torch.autograd.gradcheck(messages, (filt, phi, v, unit))
    assert torch.autograd.gradcheck(lambda filt, phi, unit: messages(filt, phi, None, unit), (filt, phi, unit))


def test_batched_nodes_equal_the_graphs_one_by_one():
    pos, x = airfoil_nodes_from_cst(CST)
    for k in range(len(CST)):
        g = airfoil_graph_from_cst(CST[k])
        assert torch.equal(pos[k], g.pos) and torch.equal(x[k], g.x)


@pytest.mark.parametrize("chunk", [1, 2, None])
def test_fast_path_predicts_what_the_graph_path_predicts(random_model, chunk):
    fast, graph = pair(random_model)
    enc, _ = fast.stacked()
    with torch.no_grad():
        a = fast.predict_airfoil(CST, ALPHA, 1e6)
        b = graph.predict_airfoil(CST, ALPHA, 1e6)
        pos, x = fast.nodes(CST)
        nodes, pooled = enc(pos[..., :2], x, airfoil_topology(), chunk=chunk)
        ref = [m.encoder(graph._graphs(CST)) for m in random_model.ensemble.members]
    for key in b:
        torch.testing.assert_close(a[key], b[key], rtol=1e-9, atol=1e-12, msg=key)
    for k, (n_ref, p_ref) in enumerate(ref):
        torch.testing.assert_close(nodes[k].flatten(0, 1), n_ref, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(pooled[k], p_ref, rtol=1e-9, atol=1e-12)


def test_fast_path_on_contours_and_per_point_cases(random_model):
    fast, graph = pair(random_model)
    contours = [torch.as_tensor(naca("2412")), torch.as_tensor(naca("0012", n_points_per_side=91))]
    index = torch.tensor([1, 0, 0, 1])
    with torch.no_grad():
        for kwargs in ({}, {"shape_index": index}):
            a = fast.predict_from_embedding(fast.shape_embedding(contours), ALPHA, 3e5, **kwargs)
            b = graph.predict_from_embedding(graph.shape_embedding(contours), ALPHA, 3e5, **kwargs)
            for key in b:
                torch.testing.assert_close(a[key], b[key], rtol=1e-9, atol=1e-12, msg=key)
        grid = graph.predict_airfoil(contours, ALPHA, 3e5)
    torch.testing.assert_close(a["CL"], grid["CL"][index, torch.arange(4)])


def _grads(model: AirfoilSurrogate, shapes: torch.Tensor) -> torch.Tensor:
    x = shapes.clone().requires_grad_(True)
    out = model.predict_airfoil(x, ALPHA, torch.tensor([3e5, 1e6, 1e6, 3e6]))
    (
        out["CL"].sum() + 10 * out["CD"].sum() - out["CM"].sum() + out["CL_std"].sum() + out["confidence"].sum()
    ).backward()
    return x.grad


def test_gradients_equal_the_graph_path(random_model):
    fast, graph = pair(random_model)
    torch.testing.assert_close(_grads(fast, CST), _grads(graph, CST), rtol=1e-8, atol=1e-12)
    contour = cst_coordinates(CST[1], 81)
    g_fast, g_graph = _grads(fast, contour), _grads(graph, contour)
    assert g_fast.abs().sum() > 0
    torch.testing.assert_close(g_fast, g_graph, rtol=1e-8, atol=1e-12)


def test_gradcheck_of_the_stacked_encoders_in_node_positions(random_model):
    """Finite differences in float64 (the graphs store float32 positions, too coarse for them, so the check
    starts at the positions). Trailing-edge nodes 0.0006 chords apart make the radial basis steep there: central
    differences with eps 1e-6 are off by up to 3e-5 of a Jacobian of scale 6, hence atol 1e-4."""
    fast, _ = pair(random_model)
    enc, _ = fast.stacked()
    pos, x = fast.nodes(CST[:1])
    f = lambda p: enc(p, x, airfoil_topology())[1]  # noqa: E731
    assert torch.autograd.gradcheck(
        f, (pos[..., :2].detach().clone().requires_grad_(True),), eps=1e-6, atol=1e-4, fast_mode=True
    )


def test_shipped_model_fast_path_values_and_gradients(shipped):
    """float32 as shipped: predictions to float rounding, gradients with respect to CST weights (float64, as the
    optimizer passes them) to 1e-5 of their scale."""
    fast, graph = pair(shipped)
    with torch.no_grad():
        a, b = fast.predict_airfoil(CST.float(), ALPHA, 1e6), graph.predict_airfoil(CST.float(), ALPHA, 1e6)
    for key in b:
        torch.testing.assert_close(a[key], b[key], rtol=2e-5, atol=2e-6, msg=key)
    g_fast, g_graph = _grads(fast, CST), _grads(graph, CST)
    assert float((g_fast - g_graph).abs().max()) <= 1e-5 * float(g_graph.abs().max())


def test_bfloat16_products_without_gradients_and_float32_with_them(shipped):
    """precision="bfloat16": predictions without gradients come from bfloat16 products (they differ from float32,
    by a small share of the model's own error) in float32 tensors; calls that record gradients run the float32 pass
    exactly; an unknown precision, or bfloat16 on the graph path, is an InputError."""
    from phenograd.core.errors import InputError

    low = AirfoilSurrogate(shipped.ensemble, shipped.info, precision="bfloat16")
    full = AirfoilSurrogate(shipped.ensemble, shipped.info)
    with torch.no_grad():
        a, b = low.predict_airfoil(CST.float(), ALPHA, 1e6), full.predict_airfoil(CST.float(), ALPHA, 1e6)
    assert a["CL"].dtype == torch.float32
    assert not torch.equal(a["CL"], b["CL"])
    assert float((a["CL"] - b["CL"]).abs().max()) < 0.02  # held-out CL MAE of these models: about 0.02
    assert float((torch.log(a["CD"]) - torch.log(b["CD"])).abs().max()) < 0.05
    assert float((a["CM"] - b["CM"]).abs().max()) < 0.004
    assert float((a["confidence"] - b["confidence"]).abs().max()) < 0.05
    torch.testing.assert_close(_grads(low, CST), _grads(full, CST), rtol=0, atol=0)
    cst = CST.float().clone().requires_grad_(True)
    torch.testing.assert_close(
        low.predict_airfoil(cst, ALPHA, 1e6)["CL"], full.predict_airfoil(cst, ALPHA, 1e6)["CL"], rtol=0, atol=0
    )
    with pytest.raises(InputError, match="precision 'float16'"):
        AirfoilSurrogate(shipped.ensemble, shipped.info, precision="float16")
    with pytest.raises(InputError, match="fast path"):
        AirfoilSurrogate(shipped.ensemble, shipped.info, fast=False, precision="bfloat16")


def test_bfloat16_on_a_cpu_without_it_warns_once(shipped, monkeypatch):
    """Emulated bfloat16 is slower than float32: asking for it on such a CPU says so (one RuntimeWarning) and still
    predicts; float32 does not warn."""
    import warnings

    from phenograd.surrogate import predict

    monkeypatch.setattr(predict, "native_bfloat16", lambda: False)
    with pytest.warns(RuntimeWarning, match="no native bfloat16") as caught:
        low = AirfoilSurrogate(shipped.ensemble, shipped.info, precision="bfloat16")
    assert len(caught) == 1
    with torch.no_grad():
        assert torch.isfinite(low.predict_airfoil(CST.float(), ALPHA, 1e6)["CL"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AirfoilSurrogate(shipped.ensemble, shipped.info)


def test_stacked_weights_follow_the_members(random_model):
    """The stacked weights are a cache: changing a member's parameters (in place or by a copy) changes the fast
    path's predictions exactly as the graph path's."""
    model = AirfoilSurrogate(copy.deepcopy(random_model.ensemble), random_model.info)
    fast, graph = pair(model)
    with torch.no_grad():
        before = fast.predict_airfoil(CST, ALPHA, 1e6)["CL"]
        model.ensemble.members[1].encoder.messages[0].phi[0].weight.mul_(1.5)
        model.ensemble.members[2].head.net[0].bias.add_(0.1)
        after = fast.predict_airfoil(CST, ALPHA, 1e6)["CL"]
        ref = graph.predict_airfoil(CST, ALPHA, 1e6)["CL"]
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, ref, rtol=1e-9, atol=1e-12)
    moved = copy.copy(fast)
    moved.ensemble = copy.deepcopy(model.ensemble).float()
    with torch.no_grad():
        torch.testing.assert_close(
            moved.predict_airfoil(CST.float(), ALPHA, 1e6)["CL"], ref.float(), rtol=1e-4, atol=1e-5
        )


def test_fast_path_shapes_and_bad_input(random_model):
    with torch.no_grad():
        one = random_model.predict_airfoil(CST[0], [4.0], 1e6)
        assert one["CL"].shape == (1, 1)
        assert random_model.predict_airfoil(CST, np.linspace(0, 5, 6), 1e6)["CD"].shape == (3, 6)
    from phenograd.core.errors import InputError

    with pytest.raises(InputError, match="Reynolds"):
        random_model.predict_airfoil(CST, ALPHA, -1.0)


def test_a_failing_torch_compile_falls_back_to_the_eager_path(random_model, monkeypatch):
    """compile=True is opt-in; when inductor cannot compile or run the pass, one RuntimeWarning and the eager
    result (compiling for real takes minutes on this project's machines: benchmarks only)."""

    def broken(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler\nfound")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    compiled = AirfoilSurrogate(random_model.ensemble, random_model.info, compile=True)
    with torch.no_grad(), pytest.warns(RuntimeWarning, match="running it eagerly"):
        got = compiled.predict_airfoil(CST, ALPHA, 1e6)
    with torch.no_grad():
        ref = random_model.predict_airfoil(CST, ALPHA, 1e6)
    torch.testing.assert_close(got["CL"], ref["CL"])
    assert compiled.stacked()[0]._compiled is None


def test_the_compiled_pass_gives_the_eager_values_and_gradients():
    """compile=True for real (inductor and the machine's C++ compiler; no fallback allowed): the same
    predictions and CST gradients as the eager fast path. A small model, so that compiling takes seconds."""
    import warnings

    torch.manual_seed(3)
    ens = build_ensemble(
        "airfoil",
        n_members=2,
        encoder={**default_encoder_config("airfoil", hidden=8, n_layers=1), "graph_nodes": 17},
        head={"hidden": 8, "width": 16, "depth": 1},
    )
    eager = AirfoilSurrogate(ens.eval(), {"meta": {}})
    compiled = AirfoilSurrogate(ens.eval(), {"meta": {}}, compile=True)
    cst = CST[:2].float().clone()
    outs = []
    for model in (eager, compiled):
        p = cst.clone().requires_grad_(True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # a fallback to the eager pass fails the test
            out = model.predict_airfoil(p, [0.0, 4.0], 1e6)
        (out["CL"].sum() + out["CM"].sum()).backward()
        outs.append((out, p.grad))
    (ref, ref_grad), (got, got_grad) = outs
    assert compiled.stacked()[0]._compiled is not None
    for key in ("CL", "CD", "CM", "confidence"):
        torch.testing.assert_close(got[key], ref[key], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got_grad, ref_grad, rtol=1e-3, atol=1e-5)
    assert float(ref_grad.abs().max()) > 0


def test_dataset_evaluation_takes_the_fast_path_with_the_same_values(random_model):
    from phenograd.surrogate.airfoil_data import AirfoilPoints
    from phenograd.surrogate.evaluate import predict_airfoil_points
    from phenograd.surrogate.heads import conditions

    ensemble = copy.deepcopy(random_model.ensemble).float()
    graphs = [airfoil_graph_from_cst(c) for c in CST.float()]
    alpha = torch.tensor([-2.0, 4.0, 9.0, 0.0, 6.0, 1.0, 3.0])
    point_shape = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    cond = conditions(alpha, torch.full((7,), 1e6), torch.full((7,), 9.0))
    n = len(alpha)
    data = AirfoilPoints(
        graphs, ["a", "b", "c"], ["test"] * 3, point_shape, cond, torch.zeros(n, 5), torch.ones(n, dtype=bool), "h"
    )
    shapes = np.array([0, 2])  # a subset: the mask picks their points only
    fast = predict_airfoil_points(ensemble, data, shapes, batch_shapes=1)
    slow = predict_airfoil_points(ensemble, data, shapes, batch_shapes=1, fast=False)
    assert fast[2].tolist() == [True, True, True, False, False, True, True]
    assert fast[0].shape == (3, 5, 5) and fast[1].shape == (3, 5)
    torch.testing.assert_close(fast[0], slow[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast[1], slow[1], rtol=1e-4, atol=1e-5)
    assert float(fast[0].std()) > 1e-3  # the predictions differ across points


def test_the_throughput_breakdown_times_heads_that_read_station_values(random_model):
    """benchmarks/airfoil_throughput.py times the heads on what they read: with station inputs (as both shipped
    airfoil models' heads have) that is more than the pooled embedding (it passed only that, and failed on them)."""
    from benchmarks.airfoil_throughput import breakdown

    stages = breakdown(random_model, CST, ALPHA, reps=1)
    assert len(stages) == 3 and all(seconds > 0 for seconds in stages.values())
