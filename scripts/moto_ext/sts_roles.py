"""STS `AssumeRole` refuses a role that does not exist, as AWS does.

Why: moto 5.2.5 hands out credentials for any role ARN ("the role does not need to exist", its
`assume_role` docstring), so a member account whose role was never deployed could not be told from
one whose role is there, and central mode's "a missing role is that account's finding" could not
be tested.

AWS answers `AccessDenied` (HTTP 403) with "User: CALLER is not authorized to perform:
sts:AssumeRole on resource: ROLE_ARN", the same answer whether the role is missing or its trust
policy does not admit the caller (https://repost.aws/knowledge-center/iam-assume-role-error; the
status and text as an SDK user captured them: cloud-toolkit/cloud-toolkit-aws#31). Here the role
must exist in the IAM of the account its ARN names (its path included, as IAM's ARNs carry it);
trust policies are not evaluated (tests/template.rs checks the templates' trust policies). moto
has no model shape for this common error, so the status is its default 400, not 403; the code and
the text are AWS's.

`install()` patches moto before its server starts (scripts/moto_server.py calls it).
"""

from __future__ import annotations

import re
from typing import Any

from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError
from moto.sts.responses import TokenResponse
from moto.utilities.utils import ARN_PARTITION_REGEX

_installed = False


def _role_exists(role_arn: str) -> bool:
    match = re.match(ARN_PARTITION_REGEX + r":iam::([0-9]{12}):role/.+$", role_arn or "")
    if not match:
        return False
    partition, account = match.group(1), match.group(2)
    try:
        iam_backends[account][partition].get_role_by_arn(arn=role_arn)
        return True
    except Exception:  # moto's NotFoundException, or no IAM state for that account yet
        return False


def _assume_role(original: Any) -> Any:
    def assume_role(self: TokenResponse) -> Any:
        role_arn = self._get_param("RoleArn")
        if not _role_exists(role_arn):
            _, caller, _ = self.backend.get_caller_identity(self.get_access_key(), self.region)
            raise STSClientError(
                "AccessDenied",
                f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
        return original(self)

    return assume_role


def install() -> None:
    """Patches moto's STS responses; call once, before the server starts."""
    global _installed
    if _installed:
        return
    if not hasattr(TokenResponse, "assume_role"):
        raise RuntimeError("moto's TokenResponse (STS) no longer has assume_role: review sts_roles.py")
    TokenResponse.assume_role = _assume_role(TokenResponse.assume_role)  # type: ignore[method-assign]
    _installed = True

