"""The GraphQL schema's root types: what players and screens call
(:mod:`server.api.public`) beside what organisers call (:mod:`server.api.organiser`).

The types live in :mod:`server.api.types` and :mod:`server.api.organiser_types`; the
schema itself, with its hardening and error codes, is made by
:func:`server.api.view.make_schema`.
"""

from __future__ import annotations

import strawberry

from server.api.organiser import OrganiserMutation, OrganiserQuery, OrganiserSubscription
from server.api.public import PublicMutation, PublicQuery, PublicSubscription


@strawberry.type
class Query(PublicQuery, OrganiserQuery):
    pass


@strawberry.type
class Mutation(PublicMutation, OrganiserMutation):
    pass


@strawberry.type
class Subscription(PublicSubscription, OrganiserSubscription):
    pass
