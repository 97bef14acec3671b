"""The catalyst domain (domain.Domain): atom graphs of slabs with adsorbates, the adsorption-energy head.

Its pieces live in their own modules (graphs.atoms_graph, heads.AdsorptionHead, train_catalyst,
catalyst_data, predict.CatalystSurrogate, evaluate.evaluate_catalyst, pretrain's atoms view);
this object hands them to the shared code. Light to import: the modules it uses load when first
needed (the CLI imports the registry to build its parser).
"""

from __future__ import annotations

from phenograd.core.errors import InputError

from .domain import register


class CatalystPretraining:
    """Pretraining view of atom graphs (see pretrain.py): a patch of atoms around a site is hidden; an atom is
    'where' it is (periodic images by minimum image); every step sees a random rigid motion, permutation and
    choice of periodic image."""

    objective = "denoise"  # measured best (BENCHMARKS "Pretraining label efficiency"): 0.95x scratch's error
    kernel = 2.0  # Å
    noise = 0.1  # Å

    def query_features(self) -> int:
        from .graphs import ELEMENTS, N_TAGS

        return N_TAGS + 2 * len(ELEMENTS)  # tag, own element, kernel-averaged hidden elements around it

    def where(self, data):
        return data.pos

    def query(self, data, hidden):
        from .pretrain import atoms_query

        return atoms_query(data, hidden, self.kernel)

    def periodic(self, data):
        return data.cell[0], data.pbc[0]

    def augment(self, data, rng):
        from .masking import augment_atoms

        return augment_atoms(data, rng)

    def mask(self, data, rng):
        from .masking import atom_patch_mask

        return atom_patch_mask(data, rng)

    def context(self, data, hidden):
        from .masking import atoms_context

        return atoms_context(data, hidden)

    def noisy(self, batch, sigma, gen):
        from .pretrain import noisy_atoms

        return noisy_atoms(batch, sigma, gen)

    def load_unlabelled(
        self, path, n_sampled: int = 0, seed: int = 0, limit: int | None = None, geometry: str = "initial"
    ):
        from .pretrain_data import load_catalyst_unlabelled

        return load_catalyst_unlabelled(path, limit, geometry)

    unlabelled_noun = "structures"

    def write_unlabelled(
        self, path, n: int, seed: int = 0, elements=None, adsorbates=None, facets=None, protocol: str = "v1"
    ):
        """Slabs with 0-3 adsorbates (v1) or the v2 plan's initial structures (v2) as an ase.db or any ase.io
        format (datasets.catalyst_unlabelled)."""
        from phenograd.datasets.catalyst_unlabelled import UnlabelledRequest, write_unlabelled

        request = UnlabelledRequest(
            n=n, seed=seed, elements=elements, adsorbates=adsorbates, facets=facets, protocol=protocol
        )
        return write_unlabelled(path, request)


def _node_inputs(data):
    from .graphs import atom_node_inputs

    return atom_node_inputs(data)


class CatalystDomain:
    """Catalysts: an ase.Atoms slab + adsorbate with OC20 tags -> a periodic radius graph whose node inputs
    are element probabilities (a soft composition) and tags; the head predicts the adsorption energy (eV)."""

    name = "catalyst"
    default_hidden = 32
    head_options = ("readout", "reference")
    train_options = ("readout", "reference")
    item_noun = "structures"
    pretraining = CatalystPretraining()
    node_inputs = staticmethod(_node_inputs)
    graph_version = 2  # 1: an 11-element vocabulary (upgrade_checkpoint widens such files to atomic numbers)
    fine_tune = None  # no multi-fidelity fine-tuning protocol yet

    def graph(self, design, **options):
        """An ase.Atoms with OC20 tags -> its periodic radius graph (options: element_probs, cutoff, positions;
        graphs.atoms_graph)."""
        from .graphs import atoms_graph

        return atoms_graph(design, **options)

    def encoder_config(self, hidden: int = 64, n_layers: int = 3) -> dict:
        """Lengths in Å."""
        from .graphs import ATOM_CUTOFF, ELEMENTS, N_TAGS

        return dict(
            in_features=len(ELEMENTS) + N_TAGS,
            hidden=hidden,
            n_layers=n_layers,
            n_rbf=20,
            cutoff=ATOM_CUTOFF,
            neighbours=17.0,
        )

    def upgrade_checkpoint(self, payload: dict) -> dict:
        """A version-1 model or encoder payload (11-element inputs) as a version-2 one: the encoder's input
        weights move to the atomic-number columns (elements.widen_legacy_columns), predictions unchanged, and
        meta["elements"] records the 11 elements it was trained on. Anything else is returned as it is (the
        loader's checks then judge it)."""
        from .elements import LEGACY_ELEMENTS, widen_legacy_columns
        from .graphs import N_TAGS

        encoder = payload.get("encoder")
        old = len(LEGACY_ELEMENTS) + N_TAGS
        if payload.get("graph_version", 1) != 1 or not isinstance(encoder, dict) or encoder.get("in_features") != old:
            return payload

        def widen(state, key):
            w = state.get(key) if isinstance(state, dict) else None
            if not hasattr(w, "shape") or w.dim() != 2 or w.shape[1] != old:
                return state
            return {**state, key: widen_legacy_columns(w)}

        out = {
            **payload,
            "graph_version": self.graph_version,
            "encoder": {**encoder, "in_features": self.encoder_config()["in_features"]},
        }
        if isinstance(payload.get("members"), list):
            out["members"] = [widen(m, "encoder.embed.weight") for m in payload["members"]]
        if "state" in payload:
            out["state"] = widen(payload["state"], "embed.weight")
        if isinstance(payload.get("meta"), dict):
            out["meta"] = {"elements": list(LEGACY_ELEMENTS), **payload["meta"]}
        return out

    def head(self, config: dict):
        from .heads import AdsorptionHead

        return AdsorptionHead(**config)

    def forward(self, member, graphs):
        """E_ads (B,) in eV of a batch of B structures."""
        import torch

        nodes, pooled = member.encoder(graphs)
        batch = getattr(graphs, "batch", None)
        if batch is None:
            batch = torch.zeros(nodes.shape[0], dtype=torch.long, device=nodes.device)
        return member.head(
            nodes,
            batch,
            n_graphs=pooled.shape[0],
            tags=getattr(graphs, "tags", None),
            element_probs=getattr(graphs, "element_probs", None),
        )

    def train_defaults(self, **overrides):
        from .train_catalyst import catalyst_defaults

        return catalyst_defaults(**overrides)

    def task(self, data_path, seed: int = 0, disqualified: str = "keep", teacher=None, extra_structures=None):
        from .catalyst_data import load_catalyst_samples
        from .train_catalyst import CatalystTask

        data = load_catalyst_samples(data_path, disqualified=disqualified)
        if teacher is None:
            if extra_structures is not None:
                raise InputError("--extra-structures needs --teacher MODEL.pt (the model that labels them)")
            return CatalystTask(data, seed)
        from .distill import distilled_samples, file_digest
        from .predict import load_surrogate

        model = load_surrogate(teacher, domain="catalyst")
        return CatalystTask(distilled_samples(data, model, extra_structures, teacher_id=file_digest(teacher)), seed)

    def load_data(self, data_path, encoder: dict):
        """Graphs built with the model's cutoff."""
        from .catalyst_data import load_catalyst_samples

        return load_catalyst_samples(data_path, cutoff=encoder["cutoff"])

    def items(self, data, split: str):
        return data.items_in(split)

    def errors(self, ensemble, data, items):
        from .evaluate import catalyst_errors

        return catalyst_errors(ensemble, data, items)

    def evaluate(self, ensemble, data, split: str, scales: dict):
        from .evaluate import evaluate_catalyst

        return (*evaluate_catalyst(ensemble, data, split, scales), {"E_ads": "(eV)"})

    def format_metrics(self, m: dict) -> str:
        lines = [
            f"{m['model']} on {m['data']} [{m['split']}], {m['members']} members",
            f"  {'subset':<14} {'n':>6} {'MAE eV':>8} {'RMSE eV':>8} {'≤0.1 eV':>8} {'in 1σ':>7} {'in 2σ':>7}",
        ]

        def row(name, r):
            lines.append(
                f"  {name:<14} {r['n']:6d} {r['mae']:8.4f} {r['rmse']:8.4f} {r['within_0.1eV']:8.3f} "
                f"{r['within_1sigma']:7.3f} {r['within_2sigma']:7.3f}"
            )

        row("all", m)
        if m.get("without_anomalies"):
            row("no anomalies", m["without_anomalies"])
        for ads, r in m["per_adsorbate"].items():
            row(f"  {ads}", r)
        return "\n".join(lines)

    def predictor(self, ensemble, info: dict):
        from .predict import CatalystSurrogate

        return CatalystSurrogate(ensemble, info)

    def add_cli_options(self, command: str, parser) -> None:
        if command == "train":
            parser.add_argument(
                "--readout",
                choices=("adsorbate", "all"),
                default=None,
                help="catalyst: pool the per-atom energies of the adsorbate's atoms only (default) or "
                "of all atoms (the format of models before 2026-12-02); see surrogate/heads.py",
            )
            parser.add_argument(
                "--reference",
                choices=("elements", "none"),
                default=None,
                help="catalyst: add a least-squares energy per adsorbate atom of each element, fitted on the "
                "training labels, to the network's output (default none; measured neutral on 578 v2 labels: "
                'BENCHMARKS.md, "Catalyst surrogate v2")',
            )
            parser.add_argument(
                "--extra-structures",
                default=None,
                help="catalyst, with --teacher: more training structures, one adsorbate each (an ase.db from "
                "`phenograd data unlabelled --protocol v2`), labelled by the teacher",
            )
        elif command == "pretrain":
            parser.add_argument("--limit", type=int, default=None, help="catalyst: use only the first N structures")
            parser.add_argument(
                "--geometry",
                default="initial",
                choices=["initial", "relaxed"],
                help="catalyst, labelled --data: pretrain on the initial or the relaxed positions (default initial)",
            )


CATALYST = register(CatalystDomain())
