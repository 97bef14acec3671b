"""Text of an OpenFOAM simpleFoam case for a 2-D airfoil: fields, models, schemes, solvers.

Non-dimensional setup: chord 1, free-stream speed 1, density 1, so the kinematic
viscosity is 1/Re, the kinematic pressure p/rho is (p - p_inf)/rho and the
pressure coefficient is Cp = 2 p. The angle of attack sets the inflow direction
(the mesh stays fixed). Force coefficients come from OpenFOAM's ``forceCoeffs``
function object with the reference area SPAN x chord, lift normal to the inflow,
and the pitching moment about the quarter chord, positive nose-up.

Turbulence models (Debian's OpenFOAM v1912):
* ``SpalartAllmaras``: free-stream nuTilda = 3 nu, nuTilda = 0 at the wall (the
  NASA Turbulence Modeling Resource's settings for the "fully turbulent" SA runs);
* ``kOmegaSST``: free-stream turbulence intensity 0.05 % and eddy-viscosity
  ratio 1 (k = 3.75e-7, omega = k / nu), wall functions that blend to the
  low-Re wall treatment when y+ ~ 1.
Both use Spalding's continuous wall law for nut, valid at any y+.
"""

from __future__ import annotations

import math

from .openfoam_mesh import SPAN, _header

TURBULENCE_MODELS = ("SpalartAllmaras", "kOmegaSST")


def _field(cls: str, name: str, dims: str, internal: str, patches: dict[str, str]) -> str:
    body = "\n".join(f"    {p}\n    {{\n        {spec}\n    }}" for p, spec in patches.items())
    return (
        _header(cls, name, "0") + f"dimensions {dims};\n\ninternalField uniform {internal};\n\n"
        f"boundaryField\n{{\n{body}\n    frontAndBack\n    {{\n        type empty;\n    }}\n}}\n"
    )


def inflow(alpha_deg: float) -> tuple[float, float]:
    """Unit free-stream velocity (x, y) at angle of attack alpha (degrees)."""
    a = math.radians(alpha_deg)
    return math.cos(a), math.sin(a)


def field_files(alpha_deg: float, reynolds: float, model: str) -> dict[str, str]:
    """Initial and boundary conditions: {"0/U": text, ...}."""
    ux, uy = inflow(alpha_deg)
    u = f"({ux:.12g} {uy:.12g} 0)"
    nu = 1.0 / reynolds
    files = {
        "0/U": _field(
            "volVectorField",
            "U",
            "[0 1 -1 0 0 0 0]",
            u,
            {
                "airfoil": "type noSlip;",
                "base": "type noSlip;",
                "farfield": f"type freestreamVelocity;\n        freestreamValue uniform {u};",
            },
        ),
        "0/p": _field(
            "volScalarField",
            "p",
            "[0 2 -2 0 0 0 0]",
            "0",
            {
                "airfoil": "type zeroGradient;",
                "base": "type zeroGradient;",
                "farfield": "type freestreamPressure;\n        freestreamValue uniform 0;",
            },
        ),
    }
    if model == "SpalartAllmaras":
        nu_tilda = 3.0 * nu
        chi = nu_tilda / nu
        nut = nu_tilda * chi**3 / (chi**3 + 7.1**3)
        files["0/nuTilda"] = _field(
            "volScalarField",
            "nuTilda",
            "[0 2 -1 0 0 0 0]",
            f"{nu_tilda:.9g}",
            {
                "airfoil": "type fixedValue;\n        value uniform 0;",
                "base": "type fixedValue;\n        value uniform 0;",
                "farfield": f"type freestream;\n        freestreamValue uniform {nu_tilda:.9g};",
            },
        )
    else:
        k = 1.5 * (5e-4) ** 2
        omega = k / nu
        nut = k / omega
        files["0/k"] = _field(
            "volScalarField",
            "k",
            "[0 2 -2 0 0 0 0]",
            f"{k:.9g}",
            {
                "airfoil": "type kqRWallFunction;\n        value uniform 1e-12;",
                "base": "type kqRWallFunction;\n        value uniform 1e-12;",
                "farfield": f"type freestream;\n        freestreamValue uniform {k:.9g};",
            },
        )
        files["0/omega"] = _field(
            "volScalarField",
            "omega",
            "[0 0 -1 0 0 0 0]",
            f"{omega:.9g}",
            {
                "airfoil": f"type omegaWallFunction;\n        value uniform {omega:.9g};",
                "base": f"type omegaWallFunction;\n        value uniform {omega:.9g};",
                "farfield": f"type freestream;\n        freestreamValue uniform {omega:.9g};",
            },
        )
    files["0/nut"] = _field(
        "volScalarField",
        "nut",
        "[0 2 -1 0 0 0 0]",
        f"{nut:.9g}",
        {
            "airfoil": "type nutUSpaldingWallFunction;\n        value uniform 0;",
            "base": "type nutUSpaldingWallFunction;\n        value uniform 0;",
            "farfield": f"type freestream;\n        freestreamValue uniform {nut:.9g};",
        },
    )
    return files


def constant_files(reynolds: float, model: str) -> dict[str, str]:
    """Transport and turbulence model dictionaries."""
    return {
        "constant/transportProperties": _header("dictionary", "transportProperties")
        + f"transportModel Newtonian;\n\nnu {1.0 / reynolds:.12g};\n",
        "constant/turbulenceProperties": _header("dictionary", "turbulenceProperties")
        + f"simulationType RAS;\n\nRAS\n{{\n    RASModel {model};\n    turbulence on;\n    printCoeffs off;\n}}\n",
    }


def control_dict(alpha_deg: float, max_iter: int) -> str:
    """controlDict: simpleFoam for at most max_iter iterations, force coefficients every iteration,
    the wall's pressure and y+ written with the final fields."""
    ux, uy = inflow(alpha_deg)
    return (
        _header("dictionary", "controlDict")
        + f"""application simpleFoam;
startFrom startTime;
startTime 0;
stopAt endTime;
endTime {int(max_iter)};
deltaT 1;
writeControl timeStep;
writeInterval {int(max_iter)};
purgeWrite 1;
writeFormat ascii;
writePrecision 10;
timePrecision 8;
runTimeModifiable true;

functions
{{
    forceCoeffs
    {{
        type forceCoeffs;
        libs ("libforces.so");
        writeControl timeStep;
        writeInterval 1;
        log false;
        patches (airfoil base);
        rho rhoInf;
        rhoInf 1;
        CofR (0.25 0 0);
        liftDir ({-uy:.12g} {ux:.12g} 0);
        dragDir ({ux:.12g} {uy:.12g} 0);
        pitchAxis (0 0 -1);
        magUInf 1;
        lRef 1;
        Aref {SPAN};
    }}
    yPlus
    {{
        type yPlus;
        libs ("libfieldFunctionObjects.so");
        writeControl writeTime;
        log false;
    }}
    wallPressure
    {{
        type surfaces;
        libs ("libsampling.so");
        writeControl writeTime;
        surfaceFormat raw;
        interpolationScheme cell;
        fields (p);
        surfaces
        (
            airfoil
            {{
                type patch;
                patches (airfoil);
                interpolate false;
            }}
        );
    }}
}}
"""
    )


def fv_schemes() -> str:
    """Second-order upwind convection for U, first-order bounded upwind for the turbulence variables."""
    return (
        _header("dictionary", "fvSchemes")
        + """ddtSchemes { default steadyState; }

gradSchemes
{
    default         Gauss linear;
    grad(U)         cellLimited Gauss linear 1;
    grad(nuTilda)   cellLimited Gauss linear 1;
    grad(k)         cellLimited Gauss linear 1;
    grad(omega)     cellLimited Gauss linear 1;
}

divSchemes
{
    default         none;
    div(phi,U)      bounded Gauss linearUpwind grad(U);
    div(phi,nuTilda) bounded Gauss upwind;
    div(phi,k)      bounded Gauss upwind;
    div(phi,omega)  bounded Gauss upwind;
    div((nuEff*dev2(T(grad(U))))) Gauss linear;
}

laplacianSchemes { default Gauss linear limited corrected 0.5; }
interpolationSchemes { default linear; }
snGradSchemes { default limited corrected 0.5; }
wallDist { method meshWave; }
"""
    )


def fv_solution(residual_p: float = 1e-6, residual_other: float = 1e-7) -> str:
    """SIMPLEC with GAMG for pressure and one non-orthogonal correction per iteration (without it the medium and
    fine grids diverged within 50 iterations on NACA 0012 at 0 and 4 degrees); stops by itself when all
    initial residuals are below the targets."""
    return (
        _header("dictionary", "fvSolution")
        + f"""solvers
{{
    p
    {{
        solver GAMG;
        smoother GaussSeidel;
        tolerance 1e-9;
        relTol 0.01;
    }}
    "(U|nuTilda|k|omega)"
    {{
        solver smoothSolver;
        smoother symGaussSeidel;
        nSweeps 2;
        tolerance 1e-10;
        relTol 0.1;
    }}
}}

SIMPLE
{{
    nNonOrthogonalCorrectors 1;
    consistent yes;
    residualControl
    {{
        p {residual_p:g};
        U {residual_other:g};
        "(nuTilda|k|omega)" {residual_other:g};
    }}
}}

relaxationFactors
{{
    equations
    {{
        U 0.9;
        "(nuTilda|k|omega)" 0.7;
    }}
}}
"""
    )


def case_files(alpha_deg: float, reynolds: float, model: str, max_iter: int) -> dict[str, str]:
    """Every dictionary of a case except the mesh: {relative path: text}."""
    files = {
        "system/controlDict": control_dict(alpha_deg, max_iter),
        "system/fvSchemes": fv_schemes(),
        "system/fvSolution": fv_solution(),
    }
    files.update(constant_files(reynolds, model))
    files.update(field_files(alpha_deg, reynolds, model))
    return files
