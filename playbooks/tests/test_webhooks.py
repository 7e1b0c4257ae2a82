"""The webhook address policy (no server-side request forgery): refused addresses when a
step is saved (API, admin, service) and when a webhook is sent (against the address the
name resolves to, resolved once), the allow-list for internal receivers, one error text
for every delivery without an answer, and the time and size bounds."""

import ipaddress
import shutil
import socket
import time

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from customers.tests.api_client import api_client
from playbooks import services, webhooks
from playbooks.models import Playbook, PlaybookRun, PlaybookStepRun, StepOutcome
from playbooks.tests.factories import (
    MembershipEventFactory,
    PlaybookFactory,
    PlaybookStepFactory,
    SegmentFactory,
)
from playbooks.tests.webhook_receivers import (
    LOOPBACK_RECEIVERS,
    FakeDNS,
    Receiver,
    self_signed_certificate,
)

pytestmark = pytest.mark.django_db

# Address literals of every refused class, in the forms the resolver accepts.
REFUSED_HOSTS = [
    "127.0.0.1",  # loopback
    "127.45.6.7",
    "localhost",
    "api.localhost",
    "[::1]",
    "169.254.169.254",  # link-local: the cloud metadata service
    "[fe80::1]",
    "10.0.0.1",  # private
    "172.16.5.4",
    "192.168.1.1",
    "[fc00::1]",  # unique local
    "[fec0::1]",  # site-local (deprecated)
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "224.0.0.1",  # multicast
    "[ff02::1]",
    "240.0.0.1",  # reserved
    "0.0.0.0",  # unspecified
    "[::]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
    "[::ffff:a9fe:a9fe]",  # 169.254.169.254, mapped
    "[2002:7f00:1::]",  # 6to4 around 127.0.0.1
    "2130706433",  # 127.0.0.1 as one decimal number
    "0177.0.0.1",  # octal
    "0x7f.1",  # hex, two parts
    "127.1",
    "017700000001",
]
PUBLIC_URLS = [
    "https://hooks.example.com/in",
    "http://93.184.216.34:8080/hook",
    "https://[2606:4700:4700::1111]/hook",
]


def webhook_steps(url: str) -> list[dict]:
    return [{"kind": "webhook", "config": {"url": url, "secret": "s"}}]


# --- when a step is saved ---------------------------------------------------------------------


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_saving_a_webhook_to_a_refused_address_names_the_url(host):
    # When a webhook step to a refused address is validated
    with pytest.raises(ValidationError) as refused:
        services.playbook_steps_validate(webhook_steps(f"http://{host}:8080/hook"))
    # Then the error names the step's url
    (message,) = refused.value.message_dict["steps"]
    assert message.startswith("steps[0].config.url: ")


@pytest.mark.parametrize("host", [h for h in REFUSED_HOSTS if "localhost" not in h])
def test_every_refused_literal_is_recognised_as_an_address(host):
    # (Django's URL validator refuses some forms by their shape alone: this checks the
    # address policy itself recognises each one.)
    address = webhooks.literal_address(host.strip("[]"))
    assert address is not None and not webhooks.address_allowed(address, host.strip("[]"))


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_addresses_and_names_are_accepted(url):
    (step,) = services.playbook_steps_validate(webhook_steps(url))
    assert step["config"]["url"] == url


def test_the_api_refuses_the_metadata_address_with_a_400(manager):
    # When a manager posts a playbook whose webhook targets the metadata service
    response = api_client(manager).post(
        "/api/playbooks/",
        {
            "name": "Exfiltrate",
            "segment": SegmentFactory().pk,
            "steps": webhook_steps("http://169.254.169.254/latest/meta-data/"),
        },
        format="json",
    )
    # Then it is a 400 naming the step's url, and nothing is stored
    assert response.status_code == 400
    (message,) = response.json()["steps"]
    assert message.startswith("steps[0].config.url: 169.254.169.254 is not allowed")
    assert not Playbook.objects.exists()


def test_the_admin_form_refuses_a_loopback_webhook(admin_client):
    segment = SegmentFactory()
    data = {
        "name": "Scan",
        "description": "",
        "segment": segment.id,
        "trigger": "on_enter",
        "on_activation": "only_new_entries",
        "stable_days": 0,
        "reentry_cooldown_days": 0,
        "steps-TOTAL_FORMS": 1,
        "steps-INITIAL_FORMS": 0,
        "steps-MIN_NUM_FORMS": 0,
        "steps-MAX_NUM_FORMS": 1000,
        "steps-0-order": 1,
        "steps-0-kind": "webhook",
        "steps-0-config": '{"url": "http://[::1]:6379/", "secret": "s"}',
    }
    response = admin_client.post(reverse("admin:playbooks_playbook_add"), data)
    assert response.status_code == 200
    assert b"config.url: ::1 is not allowed" in response.content
    assert not Playbook.objects.exists()


def test_the_allow_list_admits_internal_receivers(settings):
    # Given an operator who allows one internal network and one internal host name
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.internal"]
    # Then those are accepted, and the rest of the private space still is not
    services.playbook_steps_validate(webhook_steps("http://10.20.3.4/hook"))
    services.playbook_steps_validate(webhook_steps("https://hooks.internal/hook"))
    with pytest.raises(ValidationError):
        services.playbook_steps_validate(webhook_steps("http://10.21.0.1/hook"))


# --- when a webhook is sent ---------------------------------------------------------------------


def deliver(url: str, *, timeout: float = 5) -> webhooks.WebhookResult:
    return webhooks.deliver(
        url=url, body=b"{}", headers={"Content-Type": "application/json"}, timeout=timeout
    )


def test_a_stored_webhook_to_loopback_is_not_called(today):
    # Given a webhook step stored before the policy (or before an allow-list was narrowed)
    with Receiver([]) as receiver:
        segment = SegmentFactory()
        playbook = PlaybookFactory(segment=segment)
        PlaybookStepFactory(
            playbook=playbook, order=1, kind="webhook", config={"url": receiver.url, "secret": "s"}
        )
        event = MembershipEventFactory(segment=segment)
        run = PlaybookRun.objects.create(
            playbook=playbook, account=event.account, membership_event=event, triggered_at=event.at
        )
        # When the run executes
        retry_in = services.playbook_run_execute(run_id=run.id)
    # Then the receiver was never called, and the step says only that nothing answered
    assert receiver.requests == []
    step_run = PlaybookStepRun.objects.get(run=run)
    assert retry_in == 30 and step_run.outcome == StepOutcome.RETRYING
    assert step_run.detail.startswith(webhooks.NO_ANSWER)


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0177.0.0.1", "[::ffff:127.0.0.1]"])
def test_sending_resolves_and_refuses_loopback_forms(host):
    with Receiver([]) as receiver:
        result = deliver(f"http://{host}:{receiver.port}/hook")
    assert receiver.requests == []
    assert (result.ok, result.retryable, result.detail) == (False, True, webhooks.NO_ANSWER)


def test_a_name_resolving_to_127_0_0_1_is_refused(monkeypatch):
    # Given a public-looking name whose DNS answer is 127.0.0.1
    dns = FakeDNS({"hooks.example.com": [["127.0.0.1"]]})
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    with Receiver([]) as receiver:
        result = deliver(f"http://hooks.example.com:{receiver.port}/hook")
    # Then nothing was sent to it
    assert receiver.requests == [] and dns.lookups == ["hooks.example.com"]
    assert result.detail == webhooks.NO_ANSWER


def test_a_name_with_one_private_answer_among_public_ones_is_refused(monkeypatch):
    dns = FakeDNS({"hooks.example.com": [["93.184.216.34", "10.0.0.7"]]})
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    with pytest.raises(webhooks.AddressRefused):
        webhooks.resolve_checked("hooks.example.com", 443, timeout=5)


def test_the_checked_address_is_the_one_connected_to(settings, monkeypatch):
    # Given an allowed internal receiver on 127.0.0.1 whose name, asked a second time,
    # would answer 127.0.0.3 (refused, and nothing listens there): DNS rebinding
    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK_RECEIVERS
    dns = FakeDNS({"hooks.example.com": [["127.0.0.1"], ["127.0.0.3"]]})
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    with Receiver([200]) as receiver:
        # When the webhook is sent
        result = deliver(f"http://hooks.example.com:{receiver.port}/hook")
    # Then the name was resolved once, the request went to the checked address, and it
    # carried the URL's host name
    assert result.ok and dns.lookups == ["hooks.example.com"]
    (request,) = receiver.requests
    assert request["headers"]["host"] == f"hooks.example.com:{receiver.port}"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_sends_the_host_name_as_sni_and_checks_the_certificate(
    settings, monkeypatch, tmp_path
):
    # Given an internal HTTPS receiver with a certificate for hooks.internal.test
    cert, key = self_signed_certificate(tmp_path, "hooks.internal.test")
    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK_RECEIVERS
    settings.WEBHOOK_CA_FILE = str(cert)
    monkeypatch.setattr(socket, "getaddrinfo", FakeDNS({"hooks.internal.test": [["127.0.0.1"]]}))
    receiver = Receiver([200])
    receiver.serve_tls(cert, key)
    with receiver:
        result = deliver(f"https://hooks.internal.test:{receiver.port}/hook")
        # And a name the certificate does not cover fails like any delivery without answer
        wrong = deliver(f"https://127.0.0.1:{receiver.port}/hook")
    assert result.ok and receiver.server_names[0] == "hooks.internal.test"
    assert len(receiver.requests) == 1
    assert wrong.detail == webhooks.NO_ANSWER


def test_one_text_whatever_kept_the_answer_away(settings, monkeypatch):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK_RECEIVERS
    monkeypatch.setattr(socket, "getaddrinfo", FakeDNS({"unknown.example.com": [[]]}))
    with Receiver([]) as closed:
        closed_port = closed.port
    with Receiver([], behaviour="slow") as slow:
        causes = {
            "refused address": deliver("http://169.254.169.254/latest/meta-data/"),
            "unknown name": deliver("http://unknown.example.com/hook"),
            "closed port": deliver(f"http://127.0.0.1:{closed_port}/hook"),
            "timeout": deliver(slow.url, timeout=1),
        }
    assert {name: r.detail for name, r in causes.items()} == dict.fromkeys(
        causes, webhooks.NO_ANSWER
    )
    assert all(r.retryable for r in causes.values())


def test_a_slow_receiver_is_cut_off_at_the_time_limit(settings):
    # Given a receiver that sends its status line one byte every half second (each read on
    # its own stays within a 1 s socket timeout)
    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK_RECEIVERS
    with Receiver([], behaviour="slow") as slow:
        started = time.monotonic()
        result = deliver(slow.url, timeout=1)
        elapsed = time.monotonic() - started
    # Then the whole exchange ends at the limit (a generous bound: the answer takes 10 s)
    assert result.detail == webhooks.NO_ANSWER and elapsed < 5


def test_an_endless_answer_is_read_only_up_to_the_size_limit(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK_RECEIVERS
    with Receiver([200], behaviour="endless") as endless:
        result = deliver(endless.url, timeout=30)
    # Then the status decided, and the sender could not push much more than the limit
    # (plus what the sockets' buffers hold) before the connection was closed
    assert result.ok and result.detail == "HTTP 200"
    assert endless.body_bytes_sent < 32 * 1024 * 1024


def test_a_public_address_is_public():
    assert webhooks.address_is_public(ipaddress.ip_address("93.184.216.34"))
    assert webhooks.address_is_public(ipaddress.ip_address("2606:4700:4700::1111"))
    assert not webhooks.address_is_public(ipaddress.ip_address("::ffff:10.0.0.1"))
