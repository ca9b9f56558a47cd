"""Linear learning with eligibility traces over tile coding: true online Sarsa(λ) (dutch
traces; accumulating and replacing ones as options) for control, and TD(λ) prediction of a
fixed policy, learning online from every step (Sutton & Barto 2018, ch. 12). See the README.
"""

from typing import TYPE_CHECKING

from rlkit import _lazy
from rlkit.agents import registry

# Imported on first use (see rlkit/_lazy.py): the registry reads the configs without JAX.
_EXPORTS = {
    "SarsaLambda": "rlkit.agents.sarsa_lambda.agent",
    "TDLambda": "rlkit.agents.sarsa_lambda.agent",
    "SarsaLambdaConfig": "rlkit.agents.sarsa_lambda.config",
    "TDLambdaConfig": "rlkit.agents.sarsa_lambda.config",
    "TraceBuilder": "rlkit.agents.sarsa_lambda.builder",
    "TraceVariant": "rlkit.agents.sarsa_lambda.builder",
    "VARIANTS": "rlkit.agents.sarsa_lambda.builder",
    "make_networks": "rlkit.agents.sarsa_lambda.builder",
    "SarsaAdder": "rlkit.agents.sarsa_lambda.adder",
    "TraceLearner": "rlkit.agents.sarsa_lambda.learning",
    "TraceState": "rlkit.agents.sarsa_lambda.learning",
    "TraceStep": "rlkit.agents.sarsa_lambda.learning",
    "trace_update": "rlkit.agents.sarsa_lambda.learning",
    "TileCodedValues": "rlkit.agents.sarsa_lambda.networks",
}
_lazy.attach(__name__, _EXPORTS, submodules=("learning", "acting", "networks"))

registry.register(
    registry.AgentEntry(
        name="sarsa_lambda",
        description="true online Sarsa(λ) over tile coding, learning online from every step",
        action_spaces="discrete",
        package="rlkit.agents.sarsa_lambda",
        config="rlkit.agents.sarsa_lambda.config:SarsaLambdaConfig",
        builder="rlkit.agents.sarsa_lambda.builder:TraceBuilder",
        networks="rlkit.agents.sarsa_lambda.builder:make_networks",
        value_function="rlkit.agents.sarsa_lambda.networks:value_function",
        configs_dir="configs/sarsa_lambda",
    )
)

if TYPE_CHECKING:
    from rlkit.agents.sarsa_lambda import acting, learning, networks
    from rlkit.agents.sarsa_lambda.adder import SarsaAdder
    from rlkit.agents.sarsa_lambda.agent import SarsaLambda, TDLambda
    from rlkit.agents.sarsa_lambda.builder import (
        VARIANTS,
        TraceBuilder,
        TraceVariant,
        make_networks,
    )
    from rlkit.agents.sarsa_lambda.config import SarsaLambdaConfig, TDLambdaConfig
    from rlkit.agents.sarsa_lambda.learning import TraceLearner, TraceState, TraceStep, trace_update
    from rlkit.agents.sarsa_lambda.networks import TileCodedValues

__all__ = [
    "VARIANTS",
    "SarsaAdder",
    "SarsaLambda",
    "SarsaLambdaConfig",
    "TDLambda",
    "TDLambdaConfig",
    "TileCodedValues",
    "TraceBuilder",
    "TraceLearner",
    "TraceState",
    "TraceStep",
    "TraceVariant",
    "acting",
    "learning",
    "make_networks",
    "networks",
    "trace_update",
]
