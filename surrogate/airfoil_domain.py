"""The airfoil domain (domain.Domain): contour graphs, the polar head, XFOIL polar datasets.

Its pieces live in their own modules (graphs.airfoil_graph, heads.AirfoilHead, train_airfoil,
airfoil_data, predict.AirfoilSurrogate, evaluate.evaluate_airfoil, pretrain's airfoil view,
fidelity); this object hands them to the shared code. Light to import: the modules it uses load
when first needed (the CLI imports the registry to build its parser).
"""

from __future__ import annotations

from phenograd.core.errors import InputError

from .domain import register


class AirfoilPretraining:
    """Pretraining view of airfoil graphs (see pretrain.py): an arc of the contour is hidden; a node is
    'where' it sits on the contour; noise moves y only."""

    objective = "jepa"  # measured best (BENCHMARKS "Pretraining label efficiency"): 0.80x scratch's error
    kernel = 3.0  # contour nodes
    noise = 0.002  # chords, y only

    def query_features(self) -> int:
        return 2  # chord station and surface

    def where(self, data):
        from .pretrain import contour_where

        return contour_where(data)

    def query(self, data, hidden):
        return data.x[hidden, :2]

    def periodic(self, data):
        return None, None

    def augment(self, data, rng):
        return data  # the contour start point and resampling are drawn when the set is loaded

    def mask(self, data, rng):
        from .masking import airfoil_arc_mask

        return airfoil_arc_mask(data.num_nodes, rng)

    def context(self, data, hidden):
        from .masking import airfoil_context

        return airfoil_context(data, hidden)

    def noisy(self, batch, sigma, gen):
        from .pretrain import noisy_contours

        return noisy_contours(batch, sigma, gen)

    def load_unlabelled(
        self,
        path,
        n_sampled: int = 0,
        seed: int = 0,
        limit: int | None = None,
        geometry: str = "initial",
        stations: int | None = None,
    ):
        from .graphs import AIRFOIL_STATIONS
        from .pretrain_data import load_airfoil_unlabelled

        return load_airfoil_unlabelled(path, n_sampled, seed, stations or AIRFOIL_STATIONS)

    unlabelled_noun = "airfoil contours"

    def write_unlabelled(
        self, path, n: int, seed: int = 0, elements=None, adsorbates=None, facets=None, protocol: str = "v1"
    ):
        """Sampled CST contours as an .npz (pretrain_data.write_airfoil_contours)."""
        from .pretrain_data import write_airfoil_contours

        return write_airfoil_contours(path, n, seed), {}


def _node_inputs(data):
    return data.x


# --target-weights and --refit-target-weights: one weight per target, in AIRFOIL_TARGETS order
TARGET_WEIGHT_ARGUMENT = {
    "type": float,
    "nargs": 5,
    "default": None,
    "metavar": ("CL", "LNCD", "CM", "TOP_XTR", "BOT_XTR"),
}


class AirfoilDomain:
    """Airfoils: 18 CST parameters or a contour -> a contour graph of fixed topology (129 nodes by default, or the
    resolution a model's encoder settings record); the head predicts CL, ln CD, CM, transition points and XFOIL's
    convergence at (alpha, Re, Ncrit) points."""

    name = "airfoil"
    default_hidden = 64
    head_options = ("stations", "station_y", "nodes")
    train_options = (
        "stations",
        "station_y",
        "head_width",
        "huber_delta",
        "target_weights",
        "refit_epochs",
        "refit_head_width",
        "refit_station_y",
        "refit_target_weights",
        "vectors",
        "contour_stations",
    )
    item_noun = "shapes"
    pretraining = AirfoilPretraining()
    node_inputs = staticmethod(_node_inputs)

    @property
    def graph_version(self) -> int:
        from .graphs import AIRFOIL_GRAPH_VERSION

        return AIRFOIL_GRAPH_VERSION

    def graph(self, design, stations: int | None = None, **options):
        """A CST vector (18,) (a tensor) or a contour (M, 2) -> the contour graph (2 x stations - 1 nodes;
        default graphs.AIRFOIL_STATIONS stations per surface: 129 nodes)."""
        import torch

        from .graphs import AIRFOIL_STATIONS, airfoil_graph, airfoil_graph_from_cst

        stations = stations or AIRFOIL_STATIONS
        if isinstance(design, torch.Tensor) and design.shape == (18,):
            return airfoil_graph_from_cst(design, stations)
        return airfoil_graph(design, stations)

    def encoder_config(self, hidden: int = 64, n_layers: int = 3) -> dict:
        """Lengths in chords."""
        from .graphs import AIRFOIL_NODE_FEATURES

        return dict(
            in_features=AIRFOIL_NODE_FEATURES, hidden=hidden, n_layers=n_layers, n_rbf=16, cutoff=0.25, neighbours=8.0
        )

    def head(self, config: dict):
        from .heads import AirfoilHead

        return AirfoilHead(**config)

    def forward(self, member, graphs, point_graph=None, cond=None):
        """(values (P, 5), convergence logit (P,)) at points (P,) of the graphs with conditions cond (P, 3)."""
        return member.head(member.airfoil_shape_embedding(graphs)[point_graph], cond)

    def train_defaults(self, **overrides):
        from .train_airfoil import airfoil_defaults

        return airfoil_defaults(**overrides)

    def task(self, data_path, seed: int = 0, **options):
        from .airfoil_data import load_airfoil_points
        from .train_airfoil import AirfoilTask

        teacher, extra = options.pop("teacher", None), options.pop("extra_shapes", None)
        if options:
            raise InputError(f"{', '.join(sorted(options))}: not an option of airfoil training (catalyst only)")
        data = load_airfoil_points(data_path)
        if teacher is None:
            if extra:
                raise InputError("--extra-shapes needs --teacher MODEL.pt (the model that labels them)")
            return AirfoilTask(data, seed)
        from .distill import distilled_points, file_digest
        from .predict import load_surrogate

        model = load_surrogate(teacher, domain="airfoil")
        return AirfoilTask(distilled_points(data, model, extra or 0, seed, teacher_id=file_digest(teacher)), seed)

    def fine_tune(self, base_path, data_path, out, cfg, progress: bool = True) -> dict:
        from .fidelity import fine_tune_airfoil

        return fine_tune_airfoil(base_path, data_path, out, cfg, progress=progress)

    def load_data(self, data_path, encoder: dict):
        """Graphs at the resolution the encoder settings record."""
        from .airfoil_data import load_airfoil_points
        from .graphs import encoder_stations

        return load_airfoil_points(data_path, encoder_stations(encoder))

    def items(self, data, split: str):
        return data.shapes_in(split)

    def errors(self, ensemble, data, items):
        from .evaluate import airfoil_errors

        return airfoil_errors(ensemble, data, items)

    def evaluate(self, ensemble, data, split: str, scales: dict):
        from .evaluate import evaluate_airfoil

        return (*evaluate_airfoil(ensemble, data, split, scales), {})

    def format_metrics(self, m: dict) -> str:
        lines = [
            f"{m['model']} on {m['data']} [{m['split']}], {m['members']} members",
            f"  shapes {m['shapes']}, points {m['points']} ({m['converged_points']} converged); "
            f"convergence ROC AUC {m['convergence_auc']:.3f}",
            f"  {'target':<8} {'MAE':>9} {'in 1σ':>7} {'in 2σ':>7}",
        ]
        for name, mae in m["mae"].items():
            c = m["calibration"][name]
            lines.append(f"  {name:<8} {mae:9.5f} {c['within_1sigma']:7.3f} {c['within_2sigma']:7.3f}")
        return "\n".join(lines)

    def predictor(self, ensemble, info: dict):
        from .predict import AirfoilSurrogate

        return AirfoilSurrogate(ensemble, info)

    def add_cli_options(self, command: str, parser) -> None:
        if command == "train":
            parser.add_argument(
                "--stations",
                type=int,
                default=None,
                help="airfoil: station-readout channels per contour node beside mean pooling "
                "(default 0: mean pooling only; see surrogate/heads.py)",
            )
            parser.add_argument(
                "--station-y",
                action="store_true",
                default=None,
                help="airfoil: give the head the raw station y values beside the encoder's pooled "
                "embedding (see surrogate/heads.py)",
            )
            parser.add_argument(
                "--head-width", type=int, default=None, help="airfoil: width of the head's MLP (default 128)"
            )
            parser.add_argument(
                "--huber-delta",
                type=float,
                default=None,
                help="airfoil: Huber loss of the normalised errors with this delta instead of the "
                "squared error (default 0: squared error; see surrogate/heads.py)",
            )
            parser.add_argument(
                "--target-weights",
                **TARGET_WEIGHT_ARGUMENT,
                help="airfoil: weight of each target's errors in the regression loss (default 1 1 1 1 1)",
            )
            parser.add_argument(
                "--refit-epochs",
                type=int,
                default=None,
                help="airfoil: then train each member's head alone on its frozen encoder's features, "
                "with point batches across many shapes, for up to this many epochs (default 0: "
                "none; see surrogate/head_refit.py)",
            )
            parser.add_argument(
                "--no-vectors",
                dest="vectors",
                action="store_false",
                default=None,
                help="airfoil: an encoder without PaiNN's vector channels (the invariant special case: about a "
                "third of the arithmetic; see surrogate/encoder.py)",
            )
            parser.add_argument(
                "--contour-stations",
                type=int,
                default=None,
                help="airfoil: chord stations per surface of the contour graph (2 x N - 1 nodes; default 65, or "
                "the pretrained encoder's); the encoder's cost is proportional to it (see surrogate/graphs.py)",
            )
            parser.add_argument(
                "--refit-head-width",
                type=int,
                default=None,
                help="airfoil, with --refit-epochs: refit a new head of this width from scratch "
                "instead of refining the end-to-end one (default 0: refine)",
            )
            parser.add_argument(
                "--refit-station-y",
                action="store_true",
                default=None,
                help="airfoil, with --refit-head-width: the new head also takes the raw station y values "
                "(the end-to-end head does not; see surrogate/heads.py)",
            )
            parser.add_argument(
                "--refit-target-weights",
                **TARGET_WEIGHT_ARGUMENT,
                help="airfoil, with --refit-epochs: --target-weights for the refit stage alone (default: the same as "
                "--target-weights)",
            )
            parser.add_argument(
                "--extra-shapes",
                type=int,
                default=None,
                help="airfoil, with --teacher: this many more training shapes, mixtures of two training shapes' "
                "CST vectors, labelled by the teacher (default 0)",
            )
        elif command == "pretrain":
            parser.add_argument(
                "--sampled", type=int, default=2000, help="airfoil: freshly sampled CST shapes to add (default 2000)"
            )
            parser.add_argument(
                "--contour-stations",
                type=int,
                default=None,
                help="airfoil: chord stations per surface of the contour graph (2 x N - 1 nodes; default 65)",
            )


AIRFOIL = register(AirfoilDomain())
