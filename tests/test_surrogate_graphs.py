"""Graph building and the shared encoder: neighbour search against ASE, gradients, invariances."""

import numpy as np
import pytest
import torch
from ase.build import add_adsorbate, fcc100, fcc111
from ase.neighborlist import neighbor_list
from torch_geometric.data import Batch

from phenograd.datasets.airfoil import naca
from phenograd.datasets.cst import cst_coordinates
from phenograd.surrogate.encoder import GeometricEncoder
from phenograd.surrogate.graphs import (
    AIRFOIL_NODE_FEATURES,
    AIRFOIL_NODES,
    ELEMENTS,
    N_TAGS,
    airfoil_graph,
    airfoil_graph_from_cst,
    atom_node_inputs,
    atoms_graph,
)
from phenograd.surrogate.neighbors import radius_edges

CST = torch.tensor(
    [0.13, 0.16, 0.17, 0.2, 0.16, 0.22, 0.2, 0.2, -0.13, -0.12, -0.2, -0.1, -0.25, -0.05, -0.03, 0.03, 0.0, 0.002],
    dtype=torch.float64,
)


def slab(metal="Pt", size=(2, 2, 3), adsorbate="O", site="fcc", builder=fcc111):
    atoms = builder(metal, size=size, vacuum=8.0)
    n = len(atoms)
    layer = size[0] * size[1]
    tags = [0] * (n - layer) + [1] * layer
    add_adsorbate(atoms, adsorbate, 1.3, site)
    atoms.set_tags(tags + [2])
    return atoms


@pytest.mark.parametrize(
    "builder, cutoff, wrapped, size",
    [
        (fcc111, 6.0, False, (2, 2, 3)),
        (fcc100, 4.5, False, (2, 2, 3)),
        (fcc111, 4.5, True, (2, 2, 3)),
        (fcc100, 6.0, True, (2, 2, 3)),
        (fcc111, 6.0, False, (1, 1, 3)),
        (fcc111, 6.0, True, (1, 2, 3)),
        (fcc111, 4.5, False, (3, 3, 4)),
    ],
)
def test_radius_edges_match_ase_neighbor_list(builder, cutoff, wrapped, size):
    """wrapped: two atoms stored in other periodic images (outside the home cell), as relaxations
    leave them; the image range must widen by the atoms' spread (it lost 10 of 198 edges before).
    1x1 and 1x2 cells, narrower than the cutoff, need images two and three cells away."""
    atoms = slab(builder=builder, size=size, site="hollow" if builder is fcc100 else "fcc")
    if wrapped:
        atoms.positions[3] += atoms.cell[0] - atoms.cell[1]
        atoms.positions[5] -= 2 * atoms.cell[1]
    ei, shift = radius_edges(
        torch.tensor(atoms.positions), cutoff, torch.tensor(np.asarray(atoms.cell)), tuple(atoms.pbc)
    )
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    ours = sorted(
        zip(
            ei[1].tolist(),
            ei[0].tolist(),
            np.round(
                np.linalg.norm(atoms.positions[ei[0]] + shift.numpy() - atoms.positions[ei[1]], axis=1), 6
            ).tolist(),
        )
    )
    ref = sorted(zip(i.tolist(), j.tolist(), np.round(d, 6).tolist()))
    assert ours == ref


def test_airfoil_graph_is_the_same_for_any_start_point_direction_and_point_count():
    c = naca("4412")
    g = airfoil_graph(c)
    assert g.x.shape == (AIRFOIL_NODES, AIRFOIL_NODE_FEATURES) and g.pos.shape == (AIRFOIL_NODES, 3)
    for variant in (np.roll(c, 37, 0), c[::-1].copy()):
        g2 = airfoil_graph(variant)
        assert torch.equal(g.edge_index, g2.edge_index)
        torch.testing.assert_close(g.x, g2.x)
    dense = airfoil_graph(naca("4412", n_points_per_side=301))
    torch.testing.assert_close(dense.pos, g.pos, atol=2e-4, rtol=0)


def test_cst_graph_matches_coordinate_graph():
    from_cst = airfoil_graph_from_cst(CST)
    from_coords = airfoil_graph(cst_coordinates(CST, 301))
    torch.testing.assert_close(from_cst.pos, from_coords.pos, atol=1e-4, rtol=0)


def encoder_for(domain):
    torch.manual_seed(0)
    if domain == "airfoil":
        return GeometricEncoder(AIRFOIL_NODE_FEATURES, hidden=16, n_layers=2, cutoff=0.5).double()
    return GeometricEncoder(
        len(ELEMENTS) + N_TAGS, hidden=16, n_layers=2, cutoff=6.0, node_inputs=atom_node_inputs
    ).double()


def test_gradients_reach_cst_weights():
    enc = encoder_for("airfoil")
    params = CST.clone().requires_grad_(True)

    def f(p):
        g = airfoil_graph_from_cst(p)
        g.pos, g.x = g.pos.double(), g.x.double()
        return enc(g)[1].sum()

    f(params).backward()
    assert params.grad is not None and torch.all(torch.isfinite(params.grad)) and params.grad.abs().sum() > 0


def test_gradcheck_positions_and_soft_composition():
    enc = encoder_for("atoms")
    atoms = slab(size=(2, 2, 2))
    base = atoms_graph(atoms)
    pos = torch.tensor(atoms.positions, dtype=torch.float64, requires_grad=True)
    probs = base.element_probs.double().clone().requires_grad_(True)

    def f(pos, probs):
        g = base.clone()
        g.pos, g.element_probs, g.shift, g.cell = pos, probs, base.shift.double(), base.cell.double()
        return enc(g)[1].sum()

    assert torch.autograd.gradcheck(f, (pos, probs), eps=1e-6, atol=1e-5)


def test_encoder_invariances_for_atoms():
    enc = encoder_for("atoms")
    atoms = slab()
    ref = enc(_double(atoms))[1]
    moved = atoms.copy()
    rot = moved.copy()
    rot.rotate(37, "z", rotate_cell=True)  # rotate structure and cell together
    rot.translate([0.3, -1.1, 0.7])
    torch.testing.assert_close(enc(_double(rot))[1], ref, atol=1e-8, rtol=1e-6)
    wrapped = atoms.copy()
    wrapped.positions[3] += wrapped.cell[0] - wrapped.cell[1]  # another periodic image of atom 3
    torch.testing.assert_close(enc(_double(wrapped))[1], ref, atol=1e-8, rtol=1e-6)
    perm = np.random.default_rng(0).permutation(len(atoms))
    torch.testing.assert_close(enc(_double(atoms[perm]))[1], ref, atol=1e-8, rtol=1e-6)


def test_batched_encoding_equals_single():
    enc = encoder_for("atoms")
    graphs = [_double(slab(m)) for m in ("Pt", "Cu", "Au")]
    batched = enc(Batch.from_data_list(graphs))[1]
    for k, g in enumerate(graphs):
        torch.testing.assert_close(batched[k], enc(g)[1][0], atol=1e-8, rtol=1e-6)


def _double(atoms):
    """Graph of atoms in float64 (positions, cell, shifts and probabilities)."""
    g = atoms_graph(atoms, positions=torch.tensor(atoms.positions, dtype=torch.float64))
    g.element_probs = g.element_probs.double()
    return g


def test_airfoil_predictions_are_continuous_in_the_shape_even_for_symmetric_airfoils():
    """A fixed edge topology: perturbing one CST weight by +-h moves an (untrained) model's
    output by O(h). k-nearest-neighbour edges jumped here (ties on symmetric shapes)."""
    from phenograd.datasets.airfoil import naca
    from phenograd.datasets.cst import fit_cst
    from phenograd.surrogate.model import build_ensemble
    from phenograd.surrogate.predict import AirfoilSurrogate

    torch.manual_seed(0)
    model = AirfoilSurrogate(build_ensemble("airfoil", n_members=1).double(), {"meta": {}})
    cst = torch.tensor(fit_cst(naca("0012")), dtype=torch.float64)
    h = 1e-6
    for k in (0, 5, 9):
        step = torch.zeros(18, dtype=torch.float64)
        step[k] = h
        plus = model.predict_airfoil(cst + step, [4.0], 1e6)["CL"]
        minus = model.predict_airfoil(cst - step, [4.0], 1e6)["CL"]
        slope = abs(float(plus - minus)) / (2 * h)
        assert slope < 100, f"CL jumps by {float(plus - minus):.2e} for a {h:g} change of CST weight {k}"
