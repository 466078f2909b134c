"""ECR APIs that moto 5.2.5 lacks, patched into moto's ECR backend and response class at start-up.

Why: the product reads and writes these ECR features (2024-2026) and its tests run against moto's
server, which does not serve them (moto 5.2.5 has no account settings and no creation templates,
and validates every registry policy the V1 way). Request and response shapes follow the AWS API
reference and the ECR service model that ships with the installed botocore
(`botocore/data/ecr/2015-09-21/service-2.json.gz`); request constraints (required members, enums,
lengths, patterns) are checked against that model, so they are exactly the documented ones.

1. `GetAccountSetting`, `PutAccountSetting`
   https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetAccountSetting.html
   https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutAccountSetting.html
   - `REGISTRY_POLICY_SCOPE`: `V1` or `V2`, default `V2` (the default for new registries since
     December 2024: https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry-permissions.html)
   - `BASIC_SCAN_TYPE_VERSION`: `AWS_NATIVE` or `CLAIR`, default `AWS_NATIVE` ("All new customer
     registries are opted into this improved version by default":
     https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-basic.html)
   - `BLOB_MOUNTING`: `ENABLED` or `DISABLED`, default `DISABLED`
   Both operations list `ValidationException` and `InvalidParameterException` without saying which
   applies when. Inferred: a name that is no setting is a `ValidationException` (the set of names
   is closed, like an enum); a value the setting does not take is an `InvalidParameterException`.
   Recent models list only `V2` and `AWS_NATIVE` as settable; `V1` and `CLAIR` stay accepted so
   tests can model older registries.

2. `PutRegistryPolicy` follows `REGISTRY_POLICY_SCOPE`
   (https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry-permissions.html).
   moto accepts only `ecr:CreateRepository` and `ecr:ReplicateImage`. Here, under `V1` exactly
   `ecr:ReplicateImage`, `ecr:BatchImportUpstreamImage` and `ecr:CreateRepository` are accepted
   (no `NotAction`); under `V2` any `ecr:` action, in `Action` or `NotAction`. Action names
   compare ignoring case, as IAM does. A refusal is moto's own `InvalidParameterException`
   ("Invalid registry policy provided").

3. Repository creation templates: `CreateRepositoryCreationTemplate`,
   `UpdateRepositoryCreationTemplate`, `DeleteRepositoryCreationTemplate`,
   `DescribeRepositoryCreationTemplates`
   https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepositoryCreationTemplate.html
   https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_UpdateRepositoryCreationTemplate.html
   https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DeleteRepositoryCreationTemplate.html
   https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeRepositoryCreationTemplates.html
   https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_RepositoryCreationTemplate.html
   - Responses carry `registryId` and `repositoryCreationTemplate` (Describe:
     `repositoryCreationTemplates`, `nextToken`); `createdAt` and `updatedAt` are set here.
   - `prefix` is the template's key; `ROOT` is the catch-all. "There is always an assumed `/`
     applied to the end of the prefix", so `prod` and `prod/` name one template.
   - Create: `TemplateAlreadyExistsException` for a prefix taken; `imageTagMutability` defaults
     to `MUTABLE` ("If this parameter is omitted, the default setting of MUTABLE will be used").
   - Update: only `prefix` is required and every other member is optional, each documented as
     "Updates the ..."; the reference does not say what happens to members left out. Here a
     member the request does not set keeps its value (for `imageTagMutability` too, although
     its Update text repeats Create's "If this parameter is omitted, the default setting of
     MUTABLE will be used"). `TemplateNotFoundException` for an unknown prefix.
   - Delete returns the deleted template; `TemplateNotFoundException` for an unknown prefix.
   - Describe: `prefixes` selects (unknown ones are left out: `TemplateNotFoundException` is not
     among its errors), `maxResults` 1..1000, default page of 100, opaque `nextToken`. Order by
     prefix (the reference does not give one).
   - `repositoryPolicy` and `lifecyclePolicy` are checked by moto's own validators for
     `SetRepositoryPolicy` and `PutLifecyclePolicy`; `customRoleArn` must be a role of the
     registry's own account, as the reference requires. Error texts are inferred.
   Only the template records: moto still creates no repository from a template (pull-through
   cache, replication and create-on-push are not emulated).

State lives on moto's per-account, per-region `ECRBackend` objects: the caller's credentials pick
the account as for every other ECR call, and `POST /moto-api/reset` clears it with the rest.
`install()` patches moto before its server starts (scripts/moto_server.py calls it).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from datetime import datetime, timezone
from typing import Any

import botocore.session
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr.exceptions import InvalidParameterException, ValidationException
from moto.ecr.models import ECRBackend
from moto.ecr.policy_validation import EcrLifecyclePolicyValidator
from moto.ecr.responses import ECRResponse
from moto.iam.exceptions import MalformedPolicyDocument
from moto.iam.policy_validation import IAMPolicyDocumentValidator

# Each setting's accepted values; the first is the default.
ACCOUNT_SETTINGS: dict[str, tuple[str, ...]] = {
    "REGISTRY_POLICY_SCOPE": ("V2", "V1"),
    "BASIC_SCAN_TYPE_VERSION": ("AWS_NATIVE", "CLAIR"),
    "BLOB_MOUNTING": ("DISABLED", "ENABLED"),
}

# The only actions a V1 registry policy may hold (lower case: IAM action names ignore case).
V1_REGISTRY_ACTIONS = frozenset({"ecr:replicateimage", "ecr:batchimportupstreamimage", "ecr:createrepository"})

# The template members a Create or Update request may set, besides the key `prefix`.
TEMPLATE_MEMBERS = (
    "description",
    "encryptionConfiguration",
    "resourceTags",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "repositoryPolicy",
    "lifecyclePolicy",
    "appliedFor",
    "customRoleArn",
)

DESCRIBE_DEFAULT_PAGE = 100


# moto looks an error's shape up in the model of the service its module names
# (`moto.<service>.…`); this module's name would say service `ecr_2026`.
class TemplateAlreadyExistsException(ServiceException):
    """A template with this prefix exists already"""

    __module__ = "moto.ecr.exceptions"
    code = "TemplateAlreadyExistsException"


class TemplateNotFoundException(ServiceException):
    """No template has this prefix"""

    __module__ = "moto.ecr.exceptions"
    code = "TemplateNotFoundException"


# ---------------------------------------------------------------- request constraints (model)

_model_lock = threading.Lock()
_service_model: Any = None


def _input_shape(operation: str) -> Any:
    """The operation's request shape from botocore's ECR model (loaded once)."""
    global _service_model
    with _model_lock:
        if _service_model is None:
            _service_model = botocore.session.get_session().get_service_model("ecr")
    return _service_model.operation_model(operation).input_shape


def _violations(shape: Any, value: Any, path: str) -> list[str]:
    """What `value` breaks of the model's constraints, in AWS's validation message wording."""
    if value is None:
        return []  # required-ness is checked by the enclosing structure
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"Value at '{path}' failed to satisfy constraint: Member must be a structure"]
        found = [
            f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member must not be null"
            for name in shape.required_members
            if value.get(name) is None
        ]
        for name, member in shape.members.items():
            found += _violations(member, value.get(name), _join(path, name))
        return found
    if kind == "list":
        if not isinstance(value, list):
            return [f"Value at '{path}' failed to satisfy constraint: Member must be a list"]
        found = _length_violations(value, len(value), meta, path)
        for i, item in enumerate(value, start=1):
            found += _violations(shape.member, item, f"{path}.{i}.member")
        return found
    if kind == "string":
        if not isinstance(value, str):
            return [f"Value at '{path}' failed to satisfy constraint: Member must be a string"]
        found = _length_violations(value, len(value), meta, path)
        if shape.enum and value not in shape.enum:
            found.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
            )
        pattern = meta.get("pattern")
        if pattern is not None and re.search(pattern, value) is None:
            found.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {pattern}"
            )
        return found
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"Value at '{path}' failed to satisfy constraint: Member must be an integer"]
        found = []
        if "min" in meta and value < meta["min"]:
            found.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {meta['min']}"
            )
        if "max" in meta and value > meta["max"]:
            found.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {meta['max']}"
            )
        return found
    return []


def _length_violations(value: Any, length: int, meta: dict[str, Any], path: str) -> list[str]:
    shown = value if isinstance(value, str) else json.dumps(value)
    found = []
    if "min" in meta and length < meta["min"]:
        found.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {meta['min']}"
        )
    if "max" in meta and length > meta["max"]:
        found.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {meta['max']}"
        )
    return found


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _checked_request(response: ECRResponse, operation: str) -> dict[str, Any]:
    """The JSON request body, refused with `ValidationException` where it breaks the model."""
    try:
        body = json.loads(response.body or "{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ValidationException("The request body is not a JSON object")
    found = _violations(_input_shape(operation), body, "")
    if found:
        plural = "s" if len(found) > 1 else ""
        raise ValidationException(f"{len(found)} validation error{plural} detected: " + "; ".join(found))
    return body


# ---------------------------------------------------------------- backend (per account and region)

_original_backend_init = ECRBackend.__init__


def _backend_init(self: ECRBackend, region_name: str, account_id: str) -> None:
    _original_backend_init(self, region_name, account_id)
    self.account_settings = {name: values[0] for name, values in ACCOUNT_SETTINGS.items()}
    # Normalised prefix (no trailing `/`) -> template, in the API's shape
    self.repository_creation_templates = {}
    self.repository_creation_templates_lock = threading.Lock()


def get_account_setting(self: ECRBackend, name: str) -> dict[str, str]:
    """`GetAccountSetting`"""
    _known_setting(name)
    return {"name": name, "value": self.account_settings[name]}


def put_account_setting(self: ECRBackend, name: str, value: str) -> dict[str, str]:
    """`PutAccountSetting`"""
    accepted = _known_setting(name)
    if value not in accepted:
        raise InvalidParameterException(
            f"Invalid parameter at 'value' failed to satisfy constraint: "
            f"'{value}' is not a valid value for account setting '{name}': one of {', '.join(accepted)}"
        )
    self.account_settings[name] = value
    return {"name": name, "value": value}


def _known_setting(name: str) -> tuple[str, ...]:
    accepted = ACCOUNT_SETTINGS.get(name)
    if accepted is None:
        raise ValidationException(
            f"Value '{name}' at 'name' failed to satisfy constraint: "
            f"Member must be one of the account settings: {', '.join(ACCOUNT_SETTINGS)}"
        )
    return accepted


def _validate_registry_policy_action(self: ECRBackend, policy_text: str) -> None:
    """Replaces moto's V1-only check: the actions the registry's policy scope accepts."""
    scope = self.account_settings["REGISTRY_POLICY_SCOPE"]
    statements = json.loads(policy_text).get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if "NotAction" in statement and scope == "V1":
            raise MalformedPolicyDocument()
        actions = statement.get("Action", statement.get("NotAction", []))
        if isinstance(actions, str):
            actions = [actions]
        for action in actions:
            name = action.lower() if isinstance(action, str) else ""
            allowed = name in V1_REGISTRY_ACTIONS if scope == "V1" else name.startswith("ecr:")
            if not allowed:
                raise MalformedPolicyDocument()


def create_repository_creation_template(self: ECRBackend, request: dict[str, Any]) -> dict[str, Any]:
    """`CreateRepositoryCreationTemplate`"""
    prefix = request["prefix"]
    fields = {m: request[m] for m in TEMPLATE_MEMBERS if request.get(m) is not None}
    fields.setdefault("imageTagMutability", "MUTABLE")
    _check_template_fields(self, fields)
    now = datetime.now(timezone.utc)
    with self.repository_creation_templates_lock:
        key = _template_key(prefix)
        if key in self.repository_creation_templates:
            raise TemplateAlreadyExistsException(
                f"A repository creation template with prefix '{prefix}' already exists "
                f"in the registry with id '{self.account_id}'"
            )
        template = {"prefix": prefix, **copy.deepcopy(fields), "createdAt": now, "updatedAt": now}
        self.repository_creation_templates[key] = template
        return _template_result(self, template)


def update_repository_creation_template(self: ECRBackend, request: dict[str, Any]) -> dict[str, Any]:
    """`UpdateRepositoryCreationTemplate`: members the request leaves out keep their values"""
    prefix = request["prefix"]
    changes = {m: request[m] for m in TEMPLATE_MEMBERS if request.get(m) is not None}
    _check_template_fields(self, changes)
    with self.repository_creation_templates_lock:
        template = _find_template(self, prefix)
        template.update(copy.deepcopy(changes))
        template["updatedAt"] = datetime.now(timezone.utc)
        return _template_result(self, template)


def delete_repository_creation_template(self: ECRBackend, prefix: str) -> dict[str, Any]:
    """`DeleteRepositoryCreationTemplate`: returns the template deleted"""
    with self.repository_creation_templates_lock:
        template = _find_template(self, prefix)
        del self.repository_creation_templates[_template_key(prefix)]
        return _template_result(self, template)


def describe_repository_creation_templates(
    self: ECRBackend, prefixes: list[str] | None, next_token: str | None, max_results: int | None
) -> dict[str, Any]:
    """`DescribeRepositoryCreationTemplates`: by prefix order, one page"""
    with self.repository_creation_templates_lock:
        keys = sorted(self.repository_creation_templates)
        if prefixes is not None:
            wanted = {_template_key(p) for p in prefixes}
            keys = [k for k in keys if k in wanted]
        if next_token is not None:
            after = _decode_token(next_token)
            keys = [k for k in keys if k > after]
        page = keys[: max_results or DESCRIBE_DEFAULT_PAGE]
        result: dict[str, Any] = {
            "registryId": self.account_id,
            "repositoryCreationTemplates": [
                copy.deepcopy(self.repository_creation_templates[k]) for k in page
            ],
        }
        if len(page) < len(keys):
            result["nextToken"] = _encode_token(page[-1])
        return result


def _template_key(prefix: str) -> str:
    # "There is always an assumed / applied to the end of the prefix"
    return prefix.rstrip("/")


def _find_template(backend: ECRBackend, prefix: str) -> dict[str, Any]:
    template = backend.repository_creation_templates.get(_template_key(prefix))
    if template is None:
        raise TemplateNotFoundException(
            f"The repository creation template with prefix '{prefix}' does not exist "
            f"in the registry with id '{backend.account_id}'"
        )
    return template


def _template_result(backend: ECRBackend, template: dict[str, Any]) -> dict[str, Any]:
    return {"registryId": backend.account_id, "repositoryCreationTemplate": copy.deepcopy(template)}


def _check_template_fields(backend: ECRBackend, fields: dict[str, Any]) -> None:
    """What the model cannot say: policy documents and the role's account."""
    policy = fields.get("repositoryPolicy")
    if policy:
        try:
            validator = IAMPolicyDocumentValidator(policy)
            # The same relaxations moto makes for SetRepositoryPolicy: no Resource needed,
            # version 2008-10-17 allowed, Sids need not be unique.
            validator._validate_resource_exist = lambda: None  # type: ignore[method-assign]
            validator._validate_version = lambda: None  # type: ignore[method-assign]
            validator._validate_sid_uniqueness = lambda: None  # type: ignore[method-assign]
            validator.validate()
        except MalformedPolicyDocument:
            raise InvalidParameterException(
                "Invalid parameter at 'repositoryPolicy' failed to satisfy constraint: "
                "'Invalid repository policy provided'"
            )
    lifecycle = fields.get("lifecyclePolicy")
    if lifecycle:
        EcrLifecyclePolicyValidator(lifecycle).validate()
    role = fields.get("customRoleArn")
    if role:
        match = re.fullmatch(r"arn:[a-z-]+:iam::(\d{12}):role/.+", role)
        if match is None or match.group(1) != backend.account_id:
            raise InvalidParameterException(
                f"Invalid parameter at 'customRoleArn' failed to satisfy constraint: "
                f"'{role}' is not a role in the registry's account '{backend.account_id}'"
            )


def _encode_token(last_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_key}).encode()).decode()


def _decode_token(token: str) -> str:
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
        if isinstance(after, str):
            return after
    except (ValueError, TypeError, KeyError):
        pass
    raise InvalidParameterException("Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid token'")


# ---------------------------------------------------------------- responses (awsJson1_1 handlers)
# moto dispatches `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>` to the
# response method named after the operation in snake case; `ActionResult` serialises the result
# with the operation's output shape (timestamps as epoch seconds).


def _handle_get_account_setting(self: ECRResponse) -> ActionResult:
    request = _checked_request(self, "GetAccountSetting")
    return ActionResult(self.ecr_backend.get_account_setting(request["name"]))


def _handle_put_account_setting(self: ECRResponse) -> ActionResult:
    request = _checked_request(self, "PutAccountSetting")
    return ActionResult(self.ecr_backend.put_account_setting(request["name"], request["value"]))


def _handle_create_repository_creation_template(self: ECRResponse) -> ActionResult:
    request = _checked_request(self, "CreateRepositoryCreationTemplate")
    return ActionResult(self.ecr_backend.create_repository_creation_template(request))


def _handle_update_repository_creation_template(self: ECRResponse) -> ActionResult:
    request = _checked_request(self, "UpdateRepositoryCreationTemplate")
    return ActionResult(self.ecr_backend.update_repository_creation_template(request))


def _handle_delete_repository_creation_template(self: ECRResponse) -> ActionResult:
    request = _checked_request(self, "DeleteRepositoryCreationTemplate")
    return ActionResult(self.ecr_backend.delete_repository_creation_template(request["prefix"]))


def _handle_describe_repository_creation_templates(self: ECRResponse) -> ActionResult:
    request = _checked_request(self, "DescribeRepositoryCreationTemplates")
    return ActionResult(
        self.ecr_backend.describe_repository_creation_templates(
            request.get("prefixes"), request.get("nextToken"), request.get("maxResults")
        )
    )


# ---------------------------------------------------------------- installation

_BACKEND_METHODS = {
    "get_account_setting": get_account_setting,
    "put_account_setting": put_account_setting,
    "create_repository_creation_template": create_repository_creation_template,
    "update_repository_creation_template": update_repository_creation_template,
    "delete_repository_creation_template": delete_repository_creation_template,
    "describe_repository_creation_templates": describe_repository_creation_templates,
}

_RESPONSE_METHODS = {
    "get_account_setting": _handle_get_account_setting,
    "put_account_setting": _handle_put_account_setting,
    "create_repository_creation_template": _handle_create_repository_creation_template,
    "update_repository_creation_template": _handle_update_repository_creation_template,
    "delete_repository_creation_template": _handle_delete_repository_creation_template,
    "describe_repository_creation_templates": _handle_describe_repository_creation_templates,
}

_installed = False


def install() -> None:
    """Patches moto's ECR backend and response class; call once, before the server starts.

    Fails when moto already has one of these operations (a newer moto): then this extension
    would hide moto's own implementation, and the part that moto now serves should go.
    """
    global _installed
    if _installed:
        return
    for cls, methods in ((ECRBackend, _BACKEND_METHODS), (ECRResponse, _RESPONSE_METHODS)):
        taken = sorted(name for name in methods if hasattr(cls, name))
        if taken:
            raise RuntimeError(
                f"moto's {cls.__name__} already has {', '.join(taken)}: "
                f"remove that part of scripts/moto_ext/ecr_2026.py"
            )
    if not hasattr(ECRBackend, "_validate_registry_policy_action"):
        raise RuntimeError("moto's ECRBackend no longer has _validate_registry_policy_action: review ecr_2026.py")
    ECRBackend.__init__ = _backend_init  # type: ignore[method-assign]
    ECRBackend._validate_registry_policy_action = _validate_registry_policy_action  # type: ignore[method-assign]
    for cls, methods in ((ECRBackend, _BACKEND_METHODS), (ECRResponse, _RESPONSE_METHODS)):
        for name, function in methods.items():
            setattr(cls, name, function)
    _installed = True
