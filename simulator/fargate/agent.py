"""The Fargate agent: provisions and destroys a task's encrypted ephemeral storage.

ECS's task lifecycle (``simulator.ecs.lifecycle``) calls ``provision(task)`` at the end of
PROVISIONING and ``release(task)`` at the end of DEPROVISIONING. Every KMS call goes through
KMS's front door (``simulator.client.Client``), so key policies, grants, quotas and the audit
trail see it as AWS would.

Customer managed key (Linux, platform 1.4.0+, cluster with
``fargateEphemeralStorageKmsKeyId``), the sequence AWS's CloudTrail examples show
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-managing-kms-key.html):

1. GenerateDataKeyWithoutPlaintext, DryRun, NumberOfBytes 64, as ``fargate.amazonaws.com``,
   context {aws:ecs:clusterAccount, aws:ecs:clusterName}; DryRunOperationException = success.
2. CreateGrant, DryRun, grantee ``fargate.<region>.amazonaws.com``, Operations [Decrypt],
   EncryptionContextSubset = that context.
3. ``DRY_RUN_LEAD_SECONDS`` later: GenerateDataKeyWithoutPlaintext for real, context +
   ``aws:ebs:id: vol-<17 hex>``, invoked by ``ec2-frontend-api.amazonaws.com``.
4. CreateGrant for real, subset including aws:ebs:id, RetiringPrincipal
   ``ec2.<region>.amazonaws.com``, invoked by ``ec2-frontend-api.amazonaws.com``.
5. Decrypt as the grantee with the grant token: the 64-byte data key, used as the
   AES-256-XTS key (``aes-xts-plain64``, 512 bits, 4096-byte sectors) of an
   ``EncryptedVolume`` of the task's size.
6. On stop: RetireGrant as the retiring principal; the volume (and its key copy) is wiped.

Managed EBS volumes (``volumeConfigurations``, ``simulator.ecs.ebs``) are created at the
same instant as step 3: EBS's GenerateDataKeyWithoutPlaintext and Decrypt-only CreateGrant as
the infrastructure role through EC2 (context ``aws:ebs:id`` only), Decrypt by the grantee;
their grants are retired with the task's at stop.

``agent.grant_style = "service-principal"`` runs the same sequence with KMS's grants for AWS
service principals instead (an experiment, not what CloudTrail shows today):
``GranteeServicePrincipal``/``RetiringServicePrincipal`` and a ``SourceArn`` constraint naming
the task, with the grantee's Decrypt made on behalf of the task (``source_arn``).

Steps 1-2 are ``preflight(task)``, run by the lifecycle ``DRY_RUN_LEAD_SECONDS`` before the
end of PROVISIONING; steps 3-5 are ``provision(task)`` at its end. The clock moves by
scheduled callbacks, so no real time passes.

Modelling choices (for the README):

* Who calls steps 3 and 4. AWS's CloudTrail shows ``invokedBy:
  ec2-frontend-api.amazonaws.com`` for the real GenerateDataKeyWithoutPlaintext and the real
  CreateGrant (the ECS page above and the AWS Compute Blog post of 2024-06-10), yet the
  documented key policy lets only ``fargate.amazonaws.com`` call them, so the calls must be
  authorised as Fargate's. The simulator authorises them as the service principal
  ``fargate.amazonaws.com`` (the key policy's statement is what allows them) and records
  ``invoked_by = ec2-frontend-api.amazonaws.com`` on the caller, which the audit trail
  reports as ``userIdentity.invokedBy``. RetireGrant is made as ``ec2.<region>.amazonaws.com`` (the
  retiring principal) with ``invokedBy: AWS Internal``.
* Windows tasks (platform 1.0.0): CMK encryption is not available (AWS). The task never
  calls KMS; its storage is modelled as encrypted under a key Fargate owns (AES-256-XTS with
  a random key, no customer-visible key), ``fargateEphemeralStorage`` has ``sizeInGiB`` but
  no ``kmsKeyId``, and the task's attributes say ``fargate-sim.ephemeral-storage.encryption
  = AWS_OWNED_KEY`` plus, when the cluster has a key, ``...cmk-unavailable`` with the reason.
  (That Windows storage is encrypted by Fargate is an inference; AWS states only that the
  CMK feature is unavailable.)
* Linux platform versions before 1.4.0: no CMK (AWS), no KMS call. AWS documents the
  AES-256 encryption of ephemeral storage only for 1.4.0+ and the old layout as 10 GB of
  layer storage plus 4 GB for volumes, so the simulator makes no encryption claim: the
  volume uses the ``null`` cipher, the task has no ``fargateEphemeralStorage`` (the 20–200
  GiB field does not apply) and the attribute says ``NONE_DOCUMENTED``.
* No cluster key (Linux 1.4.0+): AES-256-XTS under a random 64-byte key Fargate owns; no
  KMS call on any customer key.
* A KMS failure at any step stops the task with ``stopCode: TaskFailedToStart`` and a
  ``stoppedReason`` naming the operation, the error code, KMS's message and the key; a grant
  made before the failure is retired at once. A key disabled or scheduled for deletion later
  does not touch running tasks (they hold the data key); new tasks fail.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from simulator import errors
from simulator.client import Client
from simulator.crypt import CipherSpec, EncryptedVolume, Engine, SelectingEngine, get_engine
from simulator.ecs.lifecycle import RetryProvisioning
from simulator.fargate import encryption
from simulator.fargate.encryption import CUSTOMER_MANAGED_KEY, LEGACY_LAYER_GB, NOT_DOCUMENTED
from simulator.fargate.storage import DEFAULTS, EphemeralStorage, MiB, StorageConstants

if TYPE_CHECKING:
    from simulator.ecs.tasks import Task
    from simulator.iam.principal import Principal
    from simulator.service import SimulationSurface

#: The data path Fargate uses for CMK and Fargate-owned keys (an inference: AWS says AES-256
#: and asks KMS for 64 bytes, which fits AES-256-XTS).
CIPHER = "aes-xts-plain64"
KEY_BITS = 512
SECTOR_SIZE = 4096
DATA_KEY_BYTES = 64
#: The service principals of the sequence.
FARGATE_PRINCIPAL = "fargate.amazonaws.com"
FRONTEND_INVOKER = "ec2-frontend-api.amazonaws.com"
RETIRE_INVOKER = "AWS Internal"
#: How the agent's Decrypt grant names its grantee and retiree: "principal" (GranteePrincipal,
#: as AWS's CloudTrail examples show) or "service-principal" (GranteeServicePrincipal with a
#: SourceArn constraint, https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html).
GRANT_STYLES = ("principal", "service-principal")
GIB = 1 << 30
#: Simulated seconds between the dry runs and the real calls: AWS's example records show the
#: dry runs at 18:08:11 and the real GenerateDataKeyWithoutPlaintext and CreateGrant at
#: 18:08:13 (fargate-managing-kms-key page); the real calls share one second, so the
#: simulator makes them at one instant.
DRY_RUN_LEAD_SECONDS = 2.0
#: Assumption: a 87 MiB compressed image (x3 on disk with its unpacked layers) gives the
#: ``Utilized: 261`` MiB AWS's task metadata example shows for a default task.
DEFAULT_IMAGE_BYTES = 87 * MiB


def grantee_principal(region: str) -> str:
    """The regional Fargate principal that receives the Decrypt grant."""
    return f"fargate.{region}.amazonaws.com"


def retiring_principal(region: str) -> str:
    """The regional EC2 principal that retires the grant when the task stops."""
    return f"ec2.{region}.amazonaws.com"


class StorageFailure(Exception):
    """Provisioning failed; ``reason`` is the task's stoppedReason, ``code`` the error code of
    the KMS call that failed (``ThrottlingException``, ...) when a KMS call did."""

    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def kms_failure(what: str, op: str, exc: errors.ClientError) -> StorageFailure:
    """``ResourceInitializationError: WHAT: kms:OP failed with CODE: MESSAGE`` (KMS's own
    code and message), the failure of a task whose KMS call ``op`` failed."""
    return StorageFailure(f"ResourceInitializationError: {what}: kms:{op} failed with "
                          f"{exc.code}: {exc.message}{_why(exc)}", code=exc.code)


class KmsRetryPolicy(Protocol):
    """What the agent asks when a KMS call of a task's sequence fails (``agent.kms_retry``).

    Without one (the default) the task stops with TaskFailedToStart at the first failure,
    which is all AWS documents. An experiment that assumes Fargate retries (the fleet's
    ``FargateKmsRetry``) sets one; the task then stays PROVISIONING between attempts and each
    attempt runs the whole sequence again from its dry runs.
    """

    def retry_after(self, task: Task, failure: StorageFailure, attempt: int) -> float | None:
        """Simulated seconds to wait before attempt ``attempt + 1``, or None to give up."""
        ...

    def stopped_reason(self, task: Task, failure: StorageFailure, attempts: int) -> str:
        """The stoppedReason of a task given up on after ``attempts`` attempts."""
        ...


@dataclass(eq=False)
class VolumeRecipe:
    """What a task's volume is made from until its first use: its size, cipher, engine and
    a copy of its data key (wiped by ``wipe``, as ``EncryptedVolume.close`` wipes its own)."""

    size: int
    spec: CipherSpec
    key: bytearray | None = field(repr=False)
    engine: Engine

    def make(self) -> EncryptedVolume:
        """The volume (its mapping made and its key bound now); the key copy is wiped."""
        key = self.key
        try:
            return EncryptedVolume(self.size, self.spec,
                                   bytes(key) if key is not None else None, engine=self.engine)
        finally:
            self.wipe()

    def wipe(self) -> None:
        """Overwrite the key copy with zeros and drop it."""
        if self.key is not None:
            self.key[:] = bytes(len(self.key))
            self.key = None


@dataclass(eq=False)
class TaskStorage:
    """What the agent holds for one task: its volume, storage model and grant.

    The volume is made on its first use (``volume``): most tasks of a run never read or
    write their storage, and making a volume (a sparse mapping, a bound key schedule) is
    most of what provisioning costs after KMS. Until then ``recipe`` holds its data key,
    wiped on release either way; a pickled record holds a made volume, never the recipe.
    """

    task_arn: str
    encryption: str
    kms_key_id: str | None
    volume_id: str
    recipe: VolumeRecipe | None = field(repr=False)
    storage: EphemeralStorage
    grant_id: str | None = None
    grant_token: str | None = field(default=None, repr=False)
    retire_error: str | None = None
    #: Managed EBS volumes attached to the task, by volume name.
    ebs: dict[str, EbsAttachment] = field(default_factory=dict)
    #: The volume once made (``volume``).
    made: EncryptedVolume | None = field(default=None, repr=False)

    @property
    def volume(self) -> EncryptedVolume:
        """The task's encrypted volume, made now if this is its first use."""
        volume = self.made
        if volume is None:
            recipe = self.recipe
            if recipe is None:
                raise KeyError(f"the storage of task {self.task_arn} was released before its "
                               "volume was used: its key is wiped")
            volume = self.made = recipe.make()
            self.recipe = None
        return volume

    @property
    def used_bytes(self) -> int:
        """Bytes of the volume written so far (0 for one not made yet, without making it)."""
        made = self.made
        return made.stats.sectors_allocated * made.sector_size if made is not None else 0

    def close(self) -> None:
        """Wipe the volume and its key (or the key copy of a volume never made)."""
        if self.made is not None:
            self.made.close()
        if self.recipe is not None:
            self.recipe.wipe()
            self.recipe = None

    def __getstate__(self) -> dict[str, Any]:
        if self.recipe is not None:
            self.volume  # noqa: B018 - a pickle holds the made volume, never a loose key copy
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "volume" in state:  # pickled before volumes were made on first use
            state = dict(state, made=state.pop("volume"), recipe=None)
        self.__dict__.update(state)


@dataclass(eq=False)
class EbsAttachment:
    """A managed EBS volume of a task: its id, key, grant and encrypted data."""

    name: str
    volume_id: str
    kms_key_id: str | None
    volume: EncryptedVolume
    grant_token: str | None = field(default=None, repr=False)


class FargateAgent:
    """Fargate's side of a task: storage provisioning, the KMS sequence, volumes, ``df``."""

    def __init__(self, sim: SimulationSurface) -> None:
        self.sim = sim
        #: The crypt engine volumes use ("auto", "native" or "cryptography").
        self.engine = "auto"
        #: Compressed image bytes the storage model counts on every task (assumption).
        self.image_bytes = DEFAULT_IMAGE_BYTES
        #: The storage model's constants (``DEFAULTS.override(...)`` to change some).
        self.constants: StorageConstants = DEFAULTS
        #: Seconds the dry runs come before the real calls (``DRY_RUN_LEAD_SECONDS``).
        self.dry_run_lead = DRY_RUN_LEAD_SECONDS
        #: (task ARN, "code: message") of RetireGrant calls that failed at task stop.
        self.retire_failures: list[tuple[str, str]] = []
        #: One of GRANT_STYLES; checked when a task's grant is made.
        self.grant_style = "principal"
        #: Asked when a KMS call of a task's sequence fails; None: the task fails at once.
        self.kms_retry: KmsRetryPolicy | None = None
        #: Attempts made so far by tasks being retried (task ARN -> attempts).
        self._attempts: dict[str, int] = {}
        self._records: dict[str, TaskStorage] = {}
        #: Tasks whose dry runs passed (task ARN -> key the dry runs checked).
        self._preflighted: dict[str, str] = {}
        self._clients: dict[tuple[str, str, str | None], Client] = {}
        self._spec = CipherSpec.parse(CIPHER, key_bits=KEY_BITS, sector_size=SECTOR_SIZE)
        self._null_spec = CipherSpec.parse("null", sector_size=SECTOR_SIZE)

    def _engine_for(self, spec: CipherSpec) -> Engine:
        """The backend ``self.engine`` runs ``spec`` on, looked up once per engine name and
        cipher (what EncryptedVolume would choose from the name on every volume)."""
        cache = self.__dict__.setdefault("_engines", {})
        key = (self.engine, spec)
        engine = cache.get(key)
        if engine is None:
            engine = get_engine(self.engine)
            if isinstance(engine, SelectingEngine):
                engine = engine.engine_for(spec)
            cache[key] = engine
        return engine

    # -- the KMS front door ----------------------------------------------------------------
    def kms(self, principal: str, account: str, invoked_by: str | None = None,
            source_arn: str | None = None) -> Client:
        """A KMS client calling as service ``principal`` for ``account`` (on behalf of the
        resource ``source_arn``, when given)."""
        key = (principal, account, invoked_by)
        client = self._clients.get(key) if source_arn is None else None
        if client is None:
            caller: Principal = self.sim.principal(principal, on_behalf_of=account)
            if invoked_by:
                caller = dataclasses.replace(caller, invoked_by=invoked_by)
            client = Client(self.sim, self.sim.service("kms"), caller, source_arn=source_arn)
            if source_arn is None:
                self._clients[key] = client
        return client

    # -- lifecycle hooks (ECS's TaskProvisioner) --------------------------------------------
    def storage_encryption(
        self, os_family: str, platform_version: str, cluster_key: str | None
    ) -> tuple[str | None, str, str | None]:
        """(kmsKeyId, encryption attribute, why the cluster key is not used) for a new task."""
        return encryption.storage_encryption(os_family, platform_version, cluster_key)

    def preflight(self, task: Task) -> str | None:
        """The dry runs (steps 1-2) of a customer-key task; a stoppedReason on failure."""
        if task.encryption != CUSTOMER_MANAGED_KEY or not task.kms_key_id:
            return None
        try:
            self._dry_runs(task)
        except StorageFailure as failure:
            return self._stop_or_retry(task, failure)
        self._preflighted[task.arn] = task.kms_key_id
        return None

    def _stop_or_retry(self, task: Task, failure: StorageFailure) -> str:
        """The task's stoppedReason, or RetryProvisioning when ``kms_retry`` says wait."""
        policy = self.kms_retry
        if policy is None:
            return failure.reason
        attempt = self._attempts.get(task.arn, 1)
        delay = policy.retry_after(task, failure, attempt)
        if delay is not None:
            self._attempts[task.arn] = attempt + 1
            raise RetryProvisioning(delay)
        self._attempts.pop(task.arn, None)
        return policy.stopped_reason(task, failure, attempt)

    def provision(self, task: Task) -> str | None:
        """Create the task's encrypted storage; return a stoppedReason on failure, else None.

        A customer-key task whose dry runs have not been made (``preflight``) makes them
        first, at the same instant.
        """
        volume_id = f"vol-{self.sim.rng.getrandbits(68):017x}"
        grant: tuple[str, str] | None = None
        try:
            if task.encryption == CUSTOMER_MANAGED_KEY and task.kms_key_id:
                if self._preflighted.pop(task.arn, None) != task.kms_key_id:
                    self._dry_runs(task)
                key, grant = self._customer_key(task, volume_id)
                spec = self._spec
            elif task.encryption == NOT_DOCUMENTED:
                key, spec = None, self._null_spec
            else:
                key, spec = bytearray(os.urandom(DATA_KEY_BYTES)), self._spec
            ebs = self._ebs_volumes(task)
        except StorageFailure as failure:
            if grant is not None:
                self._retire(task, grant[1])
            return self._stop_or_retry(task, failure)
        if self._attempts:
            self._attempts.pop(task.arn, None)
        storage = self._storage_model(task, spec)
        size = storage.crypt_device_bytes // SECTOR_SIZE * SECTOR_SIZE
        recipe = VolumeRecipe(size, spec, key, self._engine_for(spec))
        self._records[task.arn] = TaskStorage(
            task_arn=task.arn, encryption=task.encryption, kms_key_id=task.kms_key_id,
            volume_id=volume_id, recipe=recipe, storage=storage,
            grant_id=grant[0] if grant else None, grant_token=grant[1] if grant else None,
            ebs=ebs,
        )
        return None

    def discard(self, task: Task) -> None:
        """Forget a task stopped before its storage was provisioned (its dry runs only)."""
        self._preflighted.pop(task.arn, None)
        self._attempts.pop(task.arn, None)

    def release(self, task: Task) -> None:
        """Retire the task's grant and wipe its volume (end of DEPROVISIONING)."""
        self._preflighted.pop(task.arn, None)
        record = self._records.pop(task.arn, None)
        if record is None:
            return
        tokens = [record.grant_token] if record.grant_token and record.kms_key_id else []
        tokens += [a.grant_token for a in record.ebs.values() if a.grant_token]
        for token in tokens:
            problem = self._retire(task, token)
            if problem is not None:
                record.retire_error = problem
                self.retire_failures.append((task.arn, problem))
        for attachment in record.ebs.values():
            attachment.volume.close()
        record.close()

    def _retire(self, task: Task, token: str) -> str | None:
        """RetireGrant as EC2, the retiring principal; "code: message" if it failed."""
        retirer = self.kms(retiring_principal(self.sim.region), task.cluster.account,
                           RETIRE_INVOKER)
        try:
            retirer.retire_grant(GrantToken=token)
        except errors.ClientError as exc:
            return f"{exc.code}: {exc.message}"
        return None

    # -- managed EBS volumes ---------------------------------------------------------------
    def ebs_kms(self, role_arn: str) -> Client:
        """KMS as EBS calls it for a volume ECS creates with ``role_arn``: the role's
        credentials, through EC2 (kms:ViaService), invoked by ec2-frontend-api."""
        key = (role_arn, "ebs", FRONTEND_INVOKER)
        client = self._clients.get(key)
        if client is None:
            caller = dataclasses.replace(self.sim.principal(role_arn), invoked_by=FRONTEND_INVOKER)
            client = self._clients[key] = Client(
                self.sim, self.sim.service("kms"), caller,
                via_service=f"ec2.{self.sim.region}.amazonaws.com",
                source_ip=FRONTEND_INVOKER, user_agent=FRONTEND_INVOKER,
            )
        return client

    def _ebs_volumes(self, task: Task) -> dict[str, EbsAttachment]:
        """Create and attach the task's managed EBS volumes (ECS's ``volumeConfigurations``)."""
        out: dict[str, EbsAttachment] = {}
        for vol in task.ebs_volumes:
            volume_id = f"vol-{self.sim.rng.getrandbits(68):017x}"
            token = None
            if vol.kms_key_id:
                key, token = self._ebs_customer_key(task, vol.kms_key_id, vol.role_arn,
                                                    volume_id)
            else:
                # Unencrypted, or under EBS's AWS managed key: no call on a customer key.
                key = bytearray(os.urandom(DATA_KEY_BYTES))
            spec = self._spec if vol.encrypted else self._null_spec
            volume = EncryptedVolume(vol.size_gib * GIB, spec,
                                     bytes(key) if vol.encrypted else None,
                                     engine=self._engine_for(spec))
            key[:] = bytes(len(key))
            out[vol.name] = EbsAttachment(vol.name, volume_id, vol.kms_key_id, volume, token)
            task.ebs_volume_ids[vol.name] = volume_id
        return out

    def _ebs_customer_key(
        self, task: Task, key_id: str, role_arn: str, volume_id: str
    ) -> tuple[bytearray, str]:
        """EBS's KMS calls for a volume encrypted under a customer managed key."""
        region = self.sim.region
        grantee = self.kms(grantee_principal(region), task.cluster.account)
        what = (f"failed to create the Amazon EBS volume {volume_id} encrypted with the KMS key "
                f"{key_id} using the infrastructure role {role_arn}")
        key, grant = self._data_key_and_grant(
            task, self.ebs_kms(role_arn), grantee, key_id, {"aws:ebs:id": volume_id},
            {"GranteePrincipal": grantee_principal(region),
             "RetiringPrincipal": retiring_principal(region)}, {}, what)
        return key, grant["GrantToken"]

    def _data_key_and_grant(
        self, task: Task, caller: Client, grantee: Client, key_id: str,
        context: dict[str, str], who: dict[str, Any], constraints: dict[str, str], what: str,
    ) -> tuple[bytearray, dict[str, Any]]:
        """The calls Fargate's and EBS's keys share: a wrapped data key
        (GenerateDataKeyWithoutPlaintext), a Decrypt-only grant on ``context`` (CreateGrant),
        the data key decrypted by the grantee with the grant's token; (data key, grant).

        A failure is ``kms_failure(what, ...)``; a grant made before it is retired at once.
        """
        try:
            blob = caller.generate_data_key_without_plaintext(
                KeyId=key_id, EncryptionContext=context, NumberOfBytes=DATA_KEY_BYTES
            )["CiphertextBlob"]
        except errors.ClientError as exc:
            raise kms_failure(what, "GenerateDataKeyWithoutPlaintext", exc) from None
        try:
            grant = caller.create_grant(
                KeyId=key_id, **who, Operations=["Decrypt"],
                Constraints={"EncryptionContextSubset": context, **constraints},
            )
        except errors.ClientError as exc:
            raise kms_failure(what, "CreateGrant", exc) from None
        token = grant["GrantToken"]
        try:
            plaintext = grantee.decrypt(CiphertextBlob=blob, EncryptionContext=context,
                                        KeyId=key_id, GrantTokens=[token])["Plaintext"]
        except errors.ClientError as exc:
            self._retire(task, token)
            raise kms_failure(what, "Decrypt", exc) from None
        return bytearray(plaintext), grant

    # -- the customer managed key sequence -------------------------------------------------
    @staticmethod
    def _context(task: Task) -> dict[str, str]:
        return {
            "aws:ecs:clusterAccount": task.cluster.account,
            "aws:ecs:clusterName": task.cluster.name,
        }

    @staticmethod
    def _failure(key_id: str | None, op: str, exc: errors.ClientError) -> StorageFailure:
        """The failure naming the operation, the error and the key."""
        return kms_failure(_fargate_key_failure(key_id), op, exc)

    def _grant_members(self, task: Task) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
        """The grant's principals for the real call and the dry run, and its SourceArn
        constraint, as ``grant_style`` says."""
        if self.grant_style not in GRANT_STYLES:
            raise StorageFailure(
                f"ResourceInitializationError: the simulator's agent.grant_style is "
                f"{self.grant_style!r}; it must be one of {list(GRANT_STYLES)}."
            )
        region = self.sim.region
        if self.grant_style == "service-principal":
            who: dict[str, Any] = {"GranteeServicePrincipal": grantee_principal(region),
                                   "RetiringServicePrincipal": retiring_principal(region)}
            return who, who, {"SourceArn": task.arn}
        who = {"GranteePrincipal": grantee_principal(region),
               "RetiringPrincipal": retiring_principal(region)}
        return who, {"GranteePrincipal": grantee_principal(region)}, {}

    def _dry_runs(self, task: Task) -> None:
        """Steps 1-2: DryRun calls; DryRunOperationException means they would succeed."""
        key_id = task.kms_key_id
        context = self._context(task)
        _, dry_who, source = self._grant_members(task)
        fargate = self.kms(FARGATE_PRINCIPAL, task.cluster.account)

        def dry_run(op: str, call: Any, **params: Any) -> None:
            try:
                call(DryRun=True, **params)
            except errors.DryRunOperationException:
                return
            except errors.ClientError as exc:
                raise self._failure(key_id, op, exc) from None

        dry_run("GenerateDataKeyWithoutPlaintext", fargate.generate_data_key_without_plaintext,
                KeyId=key_id, EncryptionContext=context, NumberOfBytes=DATA_KEY_BYTES)
        dry_run("CreateGrant", fargate.create_grant, KeyId=key_id, **dry_who,
                Operations=["Decrypt"], Constraints={"EncryptionContextSubset": context, **source})

    def _customer_key(self, task: Task, volume_id: str) -> tuple[bytearray, tuple[str, str]]:
        """Steps 3-5: the wrapped data key, the Decrypt grant, the data key."""
        cluster = task.cluster
        key_id = task.kms_key_id
        assert key_id is not None
        region = self.sim.region
        who, _, source = self._grant_members(task)
        frontend = self.kms(FARGATE_PRINCIPAL, cluster.account, FRONTEND_INVOKER)
        grantee = self.kms(grantee_principal(region), cluster.account,
                           source_arn=task.arn if source else None)
        full = dict(self._context(task), **{"aws:ebs:id": volume_id})
        key, grant = self._data_key_and_grant(task, frontend, grantee, key_id, full, who,
                                              source, _fargate_key_failure(key_id))
        if len(key) != DATA_KEY_BYTES:  # pragma: no cover - a KMS bug
            raise StorageFailure(
                f"ResourceInitializationError: KMS returned a {len(key)}-byte data key for "
                f"{key_id}; Fargate needs {DATA_KEY_BYTES} bytes."
            )
        return key, (grant["GrantId"], grant["GrantToken"])

    # -- storage ---------------------------------------------------------------------------
    def _storage_model(self, task: Task, spec: CipherSpec) -> EphemeralStorage:
        """The ``df`` model of the task's storage (its device is what the volume spans)."""
        if task.ephemeral_gib is None:
            # Platform 1.3.0 and older: 10 GB of layer storage as the overlay (the 4 GB for
            # volume mounts is not modelled), no hidden reservation.
            layer = LEGACY_LAYER_GB * 10**9
            whole = layer // GIB
            constants = self.constants.override(
                task_min_gib=1, hidden_reserve_gib=(layer - whole * GIB) / GIB,
                metrics_extra_mib=0, cmk_slice_bytes=0,
            )
            return EphemeralStorage(size_gib=whole, cmk=False, cipher=spec,
                                    image_bytes=self.image_bytes, constants=constants,
                                    memory_mib=int(task.memory))
        return EphemeralStorage(
            size_gib=task.ephemeral_gib, cmk=task.encryption == CUSTOMER_MANAGED_KEY,
            cipher=spec, image_bytes=self.image_bytes, constants=self.constants,
            memory_mib=int(task.memory),
        )

    @staticmethod
    def _refresh(record: TaskStorage) -> EphemeralStorage:
        record.storage.used_bytes = record.used_bytes
        return record.storage

    def _record(self, task_arn: str) -> TaskStorage:
        record = self._records.get(task_arn)
        if record is None:
            task = self.sim.service("ecs").task_by_arn(task_arn)  # type: ignore[attr-defined]
            if task is None:
                raise KeyError(f"no task {task_arn} is known to ECS")
            raise KeyError(
                f"task {task_arn} has no ephemeral storage now (lastStatus {task.last_status}): "
                "storage exists from the end of PROVISIONING to the end of DEPROVISIONING"
            )
        return record

    # -- public views ----------------------------------------------------------------------
    def volume(self, task_arn: str) -> EncryptedVolume:
        """The task's encrypted volume (write into it to fill the task's storage)."""
        return self._record(task_arn).volume

    def df(self, task_arn: str) -> EphemeralStorage:
        """The task's storage model as ``df`` shows it (``.df_lines()``), usage refreshed."""
        return self._refresh(self._record(task_arn))

    def task_metadata(self, task_arn: str) -> dict[str, Any]:
        """Task metadata endpoint v4 (``${ECS_CONTAINER_METADATA_URI_V4}/task``) of a task."""
        record = self._record(task_arn)
        task = self.sim.service("ecs").task_by_arn(task_arn)  # type: ignore[attr-defined]
        storage = self._refresh(record)
        out: dict[str, Any] = {
            "Cluster": task.cluster.arn,
            "TaskARN": task.arn,
            "Family": task.family,
            "Revision": str(task.taskdef.revision),
            "DesiredStatus": task.desired_status,
            "KnownStatus": task.last_status,
            "Limits": {"CPU": int(task.cpu) / 1024, "Memory": int(task.memory)},
            "AvailabilityZone": task.availability_zone,
            "LaunchType": "FARGATE",
            "Containers": [
                {"Name": c.name, "Image": c.image, "KnownStatus": c.last_status,
                 "DesiredStatus": task.desired_status, "DockerId": c.runtime_id}
                for c in task.containers
            ],
        }
        for name, value in (("PullStartedAt", task.pull_started_at),
                            ("PullStoppedAt", task.pull_stopped_at)):
            if value is not None:
                out[name] = _iso(value)
        if task.ephemeral_gib is not None:  # platform 1.4.0+ reports the metrics
            out.update(storage.task_metadata())
        return out

    def storage_record(self, task_arn: str) -> TaskStorage:
        """The agent's record of a task's storage (volume id, grant id, encryption mode)."""
        return self._record(task_arn)

    def tasks(self) -> list[str]:
        """ARNs of the tasks that have storage now."""
        return list(self._records)

    def settle(self, max_seconds: float = 3600.0) -> datetime:
        """Advance the clock until every task and deployment has finished moving."""
        self.sim.service("ecs").settle(max_seconds)  # type: ignore[attr-defined]
        return self.sim.clock.now()


def _fargate_key_failure(key_id: str | None) -> str:
    """What failed, in a customer-key task's stoppedReason."""
    return f"Fargate could not access the KMS key {key_id} for the task's ephemeral storage"


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _why(exc: errors.ClientError) -> str:
    """A refusal's reason, marked as the simulator's, after AWS's message in a stoppedReason
    (KMS's AccessDenied says only what was refused; the reason is ``exc.explanation``)."""
    if exc.code == "AccessDeniedException" and exc.explanation:
        return f" (why: {exc.explanation})"
    return ""
