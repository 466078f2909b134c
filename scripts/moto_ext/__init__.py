"""The project's extensions to moto's server, installed at start-up by `scripts/moto_server.py`.

- `ecr_2026`: ECR account settings, registry policy scope V1/V2, repository creation templates
  (APIs that moto 5.2.5 lacks; see that module's docstring).
- `sts_roles`: `AssumeRole` refuses a role that does not exist in its account's IAM, as AWS does
  (moto 5.2.5 hands out credentials for any role ARN).
"""
