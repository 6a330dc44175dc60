"""The CSM's admin, one module per concern; importing them registers each ModelAdmin.

Rules live in the services (csm.<concern>); these modules only show and call them.
"""

from csm.admin import (  # noqa: F401
    accounts,
    alerts,
    catalogue,
    crm,
    evaluations,
    opportunities,
    outcomes,
    playbooks,
    profiles,
    qbrs,
    scores,
    surveys,
    tasks,
    timeline,
    usage,
)
