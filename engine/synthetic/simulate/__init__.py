"""A synthetic world whose true response rates are known, to show that the bandit learns.

Offline evaluation (``engine.offline.evaluation``) estimates what a policy would earn; a simulation
can measure it, because the simulator knows every customer's true click probability for every offer.
For each decision it therefore also knows what a RANDOM policy would earn in expectation (mean true
rate over the eligible offers) and what an ORACLE would earn (the best eligible offer), on the very
same customer, channel and context. The engine is used as a client would use it: customers,
segments, offers and the feature spec are written through the engine's own validation (or the HTTP
API), decisions and events go through :class:`~engine.decision.engine.DecisionEngine` and
:class:`~engine.feedback.events.EventService` (or ``POST /v1/decisions`` and ``POST
/v1/events:batch``), and rewards reach the model only through the reward stream and the
:class:`~engine.learning.learner.Learner`.

The world is the demo's (:mod:`engine.synthetic.personas`): its population of personas, its
catalog and the response truth the demo experiment draws from too. The persona is latent: the
model sees only what a real deployment would see (behavioural features, declared attributes and
segments, the request's channel and context), while true rates follow the persona's taste for
the offer's tags, scaled per channel and per context, with per-customer heterogeneity the model
cannot see. Eligibility rules look at
attributes only, so the oracle knows the eligible set exactly; the default offers carry no
frequency caps, since a cap would make eligibility depend on the run's own history and the
oracle comparison would stop being like for like.

Reproducibility: the population, the requests and the uniform draw that decides each response
come from numpy Generators seeded from ``seed`` (customer ``i`` is a function of (seed, i)
only); in process, the engine's exploration uses a seeded generator too and time is a
simulated clock, so the same seed gives the same run. Over HTTP, learning runs in the server
on its own schedule, so only the world (customers, contexts, draws) is reproducible.
"""

from engine.synthetic.personas import ChannelContext, ContextSpec, OfferTruth, Persona
from engine.synthetic.population import Customer
from engine.synthetic.simulate.over_http import run_http
from engine.synthetic.simulate.run import (
    SimulationOptions,
    StoreNotEmpty,
    Trace,
    run_in_process,
    simulation_start,
)
from engine.synthetic.simulate.scenario import ScenarioConfig
from engine.synthetic.simulate.specs import OfferSpec, SegmentSpec
from engine.synthetic.simulate.summary import (
    SimulationResult,
    print_report,
    summarize,
    write_chart,
    write_outputs,
)
from engine.synthetic.simulate.world import (
    Population,
    Requests,
    build_population,
    draw_requests,
)

__all__ = [
    "ChannelContext",
    "ContextSpec",
    "Customer",
    "OfferSpec",
    "OfferTruth",
    "Persona",
    "Population",
    "Requests",
    "ScenarioConfig",
    "SegmentSpec",
    "SimulationOptions",
    "SimulationResult",
    "StoreNotEmpty",
    "Trace",
    "build_population",
    "draw_requests",
    "print_report",
    "run_http",
    "run_in_process",
    "simulation_start",
    "summarize",
    "write_chart",
    "write_outputs",
]
