"""The README's client example: cofund driven through a Python client generated from its OpenAPI
document by openapi-python-client, as a fund's or a council's developers would.

An administrator registers a central fund, a council, a provider and a validator, the fund's
budget and a project that both pay into; the provider submits a claim; the validator verifies
it; the split is read back and checked to the penny. `scripts/client` generates the client,
starts a server and runs this; against a server of your own:

    COFUND_URL=http://127.0.0.1:8080 COFUND_BIN=target/debug/cofund \
        python scripts/client/walkthrough.py

Tokens come from `cofund token`, which signs with the server's COFUND_JWT_SECRET.
"""

import io
import os
import subprocess
import sys
import uuid
from decimal import Decimal

from cofund_client import AuthenticatedClient
from cofund_client.api.claims import (
    get_claim,
    list_allocations,
    submit_claim,
    submit_claims_bulk,
    verify_claim,
    verify_claims,
)
from cofund_client.api.registry import create_fund, create_organisation, create_project
from cofund_client.models import (
    BulkVerifyRequest,
    ClaimInput,
    ClaimStatus,
    NewFund,
    NewOrganisation,
    NewProject,
)
from cofund_client.types import File

BASE_URL = os.environ.get("COFUND_URL", "http://127.0.0.1:8080")
COFUND_BIN = os.environ.get("COFUND_BIN", "cofund")


def client(role, organisation_id=None):
    """A client holding a fresh token for `role` (acting for `organisation_id`)."""
    command = [COFUND_BIN, "token", "--role", role, "--sub", f"walkthrough-{role}"]
    if organisation_id:
        command += ["--org", organisation_id]
    token = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()
    return AuthenticatedClient(base_url=BASE_URL, token=token)


def expect(response, status):
    """The parsed body of a response with `status`, or the problem the server answered."""
    if response.status_code != status:
        sys.exit(f"expected {status}, got {response.status_code}: {response.content.decode()}")
    return response.parsed


def gbp(amount):
    return {"amount": amount, "currency": "GBP"}


def main():
    admin = client("admin")

    def organisation(name, kind, **extra):
        body = NewOrganisation.from_dict({"name": name, "kind": kind, **extra})
        created = expect(create_organisation.sync_detailed(client=admin, body=body), 201)
        print(f"organisation {created.id}: {created.name} ({created.kind.value})")
        return created.id

    central = organisation("Central Outcomes Fund", "central_fund")
    council = organisation("Worcestershire County Council", "local_authority", area_codes=["E10000034"])
    provider = organisation("Reconnections Ltd", "provider", billing_emails=["claims@reconnections.example"])
    validator = organisation("Independent Validation Ltd", "validator")

    fund = expect(
        create_fund.sync_detailed(
            client=admin,
            body=NewFund.from_dict({
                "name": "Life Chances Fund", "owner_organisation_id": central,
                "budget": gbp("1000000.00"), "service_start": "2021-01-01", "service_end": "2026-12-31",
            }),
        ),
        201,
    )
    print(f"fund {fund.id}: budget {fund.budget.amount} {fund.budget.currency}")

    project = expect(
        create_project.sync_detailed(
            client=admin,
            body=NewProject.from_dict({
                "name": "Reconnections (walkthrough)", "fund_id": fund.id,
                "provider_organisation_id": provider,
                "service_start": "2021-01-01", "service_end": "2025-12-31",
                "payers": [
                    {"organisation_id": central, "role": "central_top_up", "max_commitment": gbp("30000.00")},
                    {"organisation_id": council, "role": "local_commissioner", "max_commitment": gbp("70000.00"), "lead": True},
                ],
                "outcomes": [{"code": "loneliness_reduced", "name": "Reduction in loneliness at 6 months",
                              "price": gbp("1000.00"), "unit": "achievement"}],
                "validator_organisation_ids": [validator],
            }),
        ),
        201,
    )
    print(f"project {project.id}: {project.name}, {len(project.payers)} payers")

    # The provider submits a claim; the Idempotency-Key makes a retry safe.
    as_provider = client("provider", provider)
    claim_body = ClaimInput.from_dict({
        "participant_ref": f"WALK-{uuid.uuid4()}", "outcome_code": "loneliness_reduced",
        "achieved_on": "2022-03-15", "evidence_ref": "EV-001",
    })
    key = str(uuid.uuid4())
    claim = expect(submit_claim.sync_detailed(project.id, client=as_provider, body=claim_body, idempotency_key=key), 201)
    retried = expect(submit_claim.sync_detailed(project.id, client=as_provider, body=claim_body, idempotency_key=key), 201)
    assert retried.id == claim.id, "a retried submission returns the first claim"
    assert claim.status == ClaimStatus.SUBMITTED
    print(f"claim {claim.id}: {claim.status.value}")

    # The validator verifies it: it is priced and split between the payers.
    as_validator = client("validator", validator)
    verified = expect(verify_claim.sync_detailed(claim.id, client=as_validator), 200)
    assert verified.status == ClaimStatus.VERIFIED
    print(f"claim {verified.id}: {verified.status.value}, payable {verified.payable.amount} {verified.payable.currency}")

    # The split, read back as the ledger holds it.
    read = expect(get_claim.sync_detailed(claim.id, client=admin), 200)
    allocations = expect(list_allocations.sync_detailed(project.id, client=admin), 200).items
    total = sum(Decimal(a.amount.amount) for a in allocations)
    for allocation in allocations:
        print(f"  {allocation.payer_organisation_id}: {allocation.amount.amount} {allocation.amount.currency}")
    assert len(allocations) == len(read.allocations) == 2, "both payers share the outcome"
    assert total == Decimal(read.payable.amount) == Decimal("1000.00"), f"the split sums to {total}"
    by_payer = {a.payer_organisation_id: Decimal(a.amount.amount) for a in allocations}
    assert by_payer == {central: Decimal("300.00"), council: Decimal("700.00")}, by_payer
    print(f"split: {total} GBP, pro rata 30:70, to the penny")

    # A month's return as a CSV file, checked row by row, then verified by its upload id.
    csv = "participant_ref,outcome_code,achieved_on\n" + "".join(
        f"WALK-{uuid.uuid4()},loneliness_reduced,2022-04-{day:02d}\n" for day in (1, 2)
    )
    upload = File(payload=io.BytesIO(csv.encode()), file_name="april.csv", mime_type="text/csv")
    report = expect(submit_claims_bulk.sync_detailed(project.id, client=as_provider, body=upload), 201)
    assert (report.rows, report.stored) == (2, 2), report
    decided = expect(
        verify_claims.sync_detailed(
            project.id, client=as_validator, body=BulkVerifyRequest(upload_id=report.upload_id)
        ),
        200,
    )
    assert decided.verified == 2, decided
    print(f"bulk file: {report.stored} claims stored and verified under {report.upload_id}")


if __name__ == "__main__":
    main()
