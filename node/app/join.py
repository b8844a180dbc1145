"""Both ends of an invitation from the command line: `hitode invite` asks the running node
for one; `hitode join <invitation>` redeems it and sets the new space up as a leaf of the
hub (data dir, certificate, server spec and config, the node pointed at its server, the
inviter pinned), with no hand-editing.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import msgspec

from node.app.setup import init_space
from node.config import CONFIG_FILE, Pin, load_config
from node.errors import ConfigError, HitodeError
from node.federation.identity import read_token
from node.ops import pki
from node.ops.configure import point_node_at
from node.ops.invitation import Admission, Expired, Redeem, decode
from node.ops.natsconf import write_conf
from node.ops.spec import SPEC_FILE, TLS_DIR, ServerSpec, new_password, save_spec

__all__ = ["invite", "join", "JoinRefused", "node_url"]


class JoinRefused(HitodeError):
    code = "join_refused"
    status = 409


def _post(url: str, body: dict[str, Any], token: str | None = None, timeout: float = 30,
          ca: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    # the join desk's certificate must be one of the invitation's CA (check_hostname on)
    context = ssl.create_default_context(cadata=ca) if ca is not None else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {e.code}"
        raise JoinRefused(message) from None
    except (urllib.error.URLError, OSError) as e:
        raise HitodeError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from None


def node_url(data_dir: Path) -> str:
    """The running node's HTTP address, from its run file."""
    try:
        return str(json.loads((data_dir / "run.json").read_text())["http_url"])
    except (FileNotFoundError, ValueError, KeyError):
        raise HitodeError(f"the node of {data_dir} is not running: start it (`hitode run --dir {data_dir}`)") \
            from None


def invite(data_dir: Path, expires_in: int) -> tuple[str, str]:
    """A new invitation from the running node: (the line, when it expires)."""
    got = _post(node_url(data_dir) + "/api/invitations", {"expires_in": expires_in}, token=read_token(data_dir))
    return str(got["invitation"]), str(got["expires"])


def join(line: str, data_dir: Path, *, space: str | None, name: str | None, address: str | None,
         http_host: str = "127.0.0.1", http_port: int = 8700, client_address: str = "127.0.0.1",
         monitor_address: str = "127.0.0.1") -> ServerSpec:
    inv = decode(line)
    if not inv.join.startswith("https://"):
        raise ConfigError("the invitation's join address is not HTTPS; ask for a new invitation")
    if inv.expired():
        raise Expired(f"this invitation expired at {inv.expires_text}: ask {inv.inviter}'s operator for a new one")
    if (data_dir / SPEC_FILE).exists():
        raise ConfigError(f"{data_dir} already has a server ({SPEC_FILE}): it is part of a federation")
    if not (data_dir / CONFIG_FILE).exists():
        if not space or not name:
            raise ConfigError(f"{data_dir} is new: give --space and --name for the space to create")
        init_space(data_dir, space=space, name=name, http_host=http_host, http_port=http_port)
    config = load_config(data_dir)
    key_pem, csr = pki.make_csr(config.space.id, [address] if address else [])
    redeem = Redeem(id=inv.id, secret=inv.secret, space=config.space.id, csr=csr.decode())
    try:
        got = msgspec.convert(_post(inv.join, msgspec.to_builtins(redeem), ca=inv.ca), Admission)
    except JoinRefused as e:
        raise JoinRefused(f"{inv.inviter} refused the invitation: {e.message}") from None
    except msgspec.ValidationError as e:
        raise HitodeError(f"{inv.inviter} answered something that is not an admission: {e}") from None
    pki.install(data_dir / TLS_DIR, key_pem, got.cert.encode(), inv.ca.encode())
    spec = ServerSpec(space=config.space.id, topology="leaf", hub=got.hub, hub_password=got.password,
                      node_password=new_password(), admin_password=new_password(),
                      client_address=client_address, monitor_address=monitor_address,
                      address=address or "127.0.0.1")
    save_spec(data_dir, spec)
    write_conf(spec, data_dir)
    pin = Pin(space=inv.inviter, sign_key=base64.b64encode(inv.sign_key).decode())
    point_node_at(data_dir, config, spec, pins=[pin])
    return spec
