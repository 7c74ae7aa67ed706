"""Imports every model so the metadata (and Alembic) see the whole schema."""
from langjourney.auth.models import AccessLog, LoginFailure, Provider, User  # noqa: F401
from langjourney.courses.models import (  # noqa: F401
    ApiIdempotencyKey, ApiToken, Course, CourseChange, Enrolment,
)
from langjourney.learners.models import LearnerProfile  # noqa: F401
from langjourney.mail.models import OutboxMessage  # noqa: F401
from langjourney.ops.models import PeriodicRun  # noqa: F401
from langjourney.selfassess.models import SelfAssessment  # noqa: F401
from langjourney.testing.models import (  # noqa: F401
    BankVersion, PlacementAttempt, PlacementResponse, RetakePermission,
)
from langjourney.waitlist.models import (  # noqa: F401
    AllocationEvent, AllocationPolicy, Offer, WaitlistEntry,
)
from langjourney.counselling.models import (  # noqa: F401
    CounsellingBooking, CounsellingRequest, CounsellingSlot,
)
