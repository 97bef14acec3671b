"""The DFT label set's audits of stored rows (datasets/catalyst_dft.py): plausibility and reconstruction."""

import numpy as np
from ase import Atoms
from ase.build import add_adsorbate, fcc111

from phenograd.datasets.catalyst_dft import DFTStore, audit_plausibility, audit_reconstruction


def test_audit_marks_implausible_rows_and_restores_plausible_ones(tmp_path):
    store = DFTStore.open(tmp_path / "dft.db")
    adslab = Atoms("Pt2N", positions=[[0, 0, 0], [2.8, 0, 0], [1.4, 0, 1.8]], cell=[5, 5, 15], pbc=True)
    adslab.set_tags([1, 1, 2])
    base = {"kind": "adslab", "adsorbate": "N", "metals": "Pt", "facet": "fcc111"}
    store.write_row(
        adslab, {**base, "uid": "a", "status": "ok", "e_ads": 9.0, "slab_uid": "sa"}
    )  # N's ceiling is ~4.9 eV
    store.write_row(adslab, {**base, "uid": "b", "status": "failed: marked by hand", "e_ads": 1.0, "slab_uid": "sb"})
    store.write_row(adslab, {**base, "uid": "c", "status": "failed: SCF did not converge"})
    # a plausible row on the slab of an implausible one: that slab's single points are suspect
    store.write_row(adslab, {**base, "uid": "d", "status": "ok", "e_ads": -1.0, "slab_uid": "bad"})
    store.write_row(adslab, {**base, "uid": "e", "status": "ok", "e_ads": 9.5, "slab_uid": "bad"})
    lines = audit_plausibility(store)
    assert len(lines) == 4
    status = {r.uid: r.status for r in store.db.select()}
    assert status["e"].startswith("failed: implausible")
    assert status["d"] == "failed: suspect single points: N on the same clean slab is implausible"
    assert status["a"].startswith("failed: implausible E_ads +9.00 eV")
    assert status["b"] == "ok"
    assert status["c"] == "failed: SCF did not converge"
    assert audit_plausibility(store) == []


def test_audit_flags_a_reconstructed_system_and_keeps_it_ok(tmp_path):
    store = DFTStore.open(tmp_path / "dft.db")
    clean = fcc111("Pt", (2, 2, 3), vacuum=7.0)
    clean.set_tags(np.where(clean.get_tags() > 2, 0, 1))
    top = int(np.flatnonzero(clean.get_tags() == 1)[-1])
    for system, shift in (("moved", 1.5), ("kept", 0.3)):
        adslab = clean.copy()
        add_adsorbate(adslab, "O", 1.8, "fcc")
        adslab.set_tags(list(clean.get_tags()) + [2])
        adslab.positions[top, 1] += shift
        base = {"system": system, "adsorbate": "O", "metals": "Pt", "facet": "fcc111", "anomalies": "site_changed"}
        store.write_row(
            adslab,
            {**base, "kind": "potential", "uid": f"p-{system}", "status": "ok"},
            {"clean_positions": clean.positions},
        )
        store.write_row(adslab, {**base, "kind": "adslab", "uid": f"a-{system}", "status": "ok", "e_ads": -1.0})
    lines = audit_reconstruction(store)
    assert len(lines) == 1 and "1.50 Å" in lines[0]
    rows = {r.uid: r for r in store.db.select()}
    assert rows["p-moved"].anomalies == rows["a-moved"].anomalies == "reconstructed,site_changed"
    assert rows["a-moved"].status == "ok"
    assert rows["a-kept"].anomalies == "site_changed"
    assert audit_reconstruction(store) == []
