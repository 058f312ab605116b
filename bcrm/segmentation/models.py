"""Criterion → run → assignment (DESIGN.md section 2), overrides, and the current labels.

Criteria are versioned: a change makes a new row and old runs keep the version they used. Runs and
their assignments are immutable snapshots, written once by ``services.run_segmentation``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bcrm.segmentation.choices import ALL_LABEL_CODES, Dimension, RunMode, RunStatus, RunTrigger, Schedule

LABEL_CHOICES = [(code, code) for code in ALL_LABEL_CODES]


class Criterion(models.Model):
    """One version of the classification rule of one dimension (分类标准)."""

    dimension = models.CharField(_("dimension"), max_length=16, choices=Dimension.choices)
    version = models.PositiveIntegerField(_("version"))
    is_active = models.BooleanField(_("active"), default=True)
    # [{"feature": name, "transform": raw|log1p|pct_rank|minmax, "direction": higher|lower, "weight": w}]
    features = models.JSONField(_("score formula"))
    method = models.CharField(_("split method"), max_length=32)
    params = models.JSONField(_("method parameters"), default=dict, blank=True)
    # Knock-out rules that decide a label whatever the score: [{"feature", "op", "value", "label": upper|lower}]
    rules = models.JSONField(_("rules"), default=list, blank=True)
    required_features = models.JSONField(_("required features"), default=list, blank=True)
    min_history_months = models.PositiveSmallIntegerField(_("minimum months of history"), default=0)
    min_completeness = models.FloatField(_("minimum evidence completeness"), default=0.0)
    hysteresis_margin = models.FloatField(_("hysteresis margin"), default=0.0)
    upper_name = models.CharField(_("upper class name"), max_length=60, blank=True)
    lower_name = models.CharField(_("lower class name"), max_length=60, blank=True)
    outcome_feature = models.CharField(_("outcome feature"), max_length=64, blank=True,
                                       help_text=_("For the information-gain method: a 0/1 feature."))
    schedule = models.CharField(_("re-run schedule"), max_length=16, choices=Schedule.choices, blank=True, default="")
    note = models.CharField(_("what changed"), max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("criterion")
        verbose_name_plural = _("criteria")
        ordering = ["dimension", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["dimension", "version"], name="criterion_version_unique"),
            models.UniqueConstraint(fields=["dimension"], condition=Q(is_active=True), name="criterion_one_active"),
            models.CheckConstraint(condition=Q(min_completeness__gte=0) & Q(min_completeness__lte=1),
                                   name="criterion_completeness_range"),
            models.CheckConstraint(condition=Q(hysteresis_margin__gte=0), name="criterion_margin_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.dimension} v{self.version}"


class Run(models.Model):
    """One classification of the whole population on one dimension, as of a date. Immutable."""

    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, related_name="runs",
                                  verbose_name=_("criterion"))
    dimension = models.CharField(_("dimension"), max_length=16, choices=Dimension.choices)
    as_of = models.DateField(_("as of"))
    method = models.CharField(_("split method"), max_length=32)
    params = models.JSONField(_("method parameters"), default=dict)
    threshold = models.FloatField(_("threshold"), null=True)
    diagnostics = models.JSONField(_("diagnostics"), default=dict)
    counts = models.JSONField(_("counts"), default=dict)
    migrations = models.JSONField(_("migrations"), default=dict)
    comparison = models.JSONField(_("method comparison"), default=list)
    trigger = models.CharField(_("trigger"), max_length=16, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    status = models.CharField(_("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.DONE)
    previous_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    timings = models.JSONField(_("timings"), default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    #: "full": every client's features recomputed; "incremental": only the changed clients' (the rest from
    #: the feature store). ``recomputed`` counts the clients whose features were computed from their rows.
    mode = models.CharField(_("mode"), max_length=16, choices=RunMode.choices, default=RunMode.FULL,
                            db_default=RunMode.FULL)
    recomputed = models.PositiveIntegerField(_("clients recomputed"), null=True, blank=True)
    #: The run whose assignments this one builds on (the dimension's previous run): this run wrote rows only
    #: for the clients whose result changed from their standing assignment (``services.RESULT_PRECISION``).
    #: None for a run that wrote every client's row (a full run, a changed criterion or method, a long chain).
    base_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("built on run"))
    #: The runs whose rows make up this run's assignments, newest first: this run, its base, the base's base …
    #: down to the run that wrote every row (``selectors.effective_assignments`` reads them).
    chain = models.JSONField(_("run chain"), default=list, blank=True)
    written = models.PositiveIntegerField(_("assignments written"), null=True, blank=True)
    #: The portfolio lifetime-value model the run's value features were predicted with (None: the run used no
    #: lifetime value, or its fit failed, or it fitted a model it could not keep — a back-dated run).
    clv_fit = models.ForeignKey("ClvFit", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs",
                                verbose_name=_("lifetime-value model"))

    class Meta:
        verbose_name = _("segmentation run")
        verbose_name_plural = _("segmentation runs")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["dimension", "-started_at"], name="segrun_dim_idx")]

    def __str__(self) -> str:
        return f"{self.dimension} run {self.pk} ({self.as_of})"


class Assignment(models.Model):
    """One client's result in one run: the label and why.

    A run writes a row only for the clients whose result changed from their standing assignment (the one
    in force in the run it builds on, ``Run.base_run``); the others keep their row from an earlier run of the
    chain, which the writing run marks ``superseded_by`` when it replaces it. Read a run's assignments with
    ``selectors.effective_assignments(run)``, never ``filter(run=run)``. The margin to the line is not
    stored: it is the score less the threshold of the run being read (``margin``)."""

    # No database-level foreign keys on this snapshot table: a run writes a million rows at once and
    # checking each against two parent tables cost a quarter of the write (measured on PostgreSQL).
    # The engine writes only ids it has just read; deletes still cascade, through Django's collector.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="assignments", db_constraint=False)
    organization = models.ForeignKey("parties.Organization", on_delete=models.CASCADE, db_constraint=False,
                                     related_name="segment_assignments")
    label = models.CharField(_("label"), max_length=16, choices=LABEL_CHOICES)
    engine_label = models.CharField(_("engine label"), max_length=16, choices=LABEL_CHOICES,
                                    help_text=_("What the engine said, before any override."))
    previous_label = models.CharField(_("previous label"), max_length=16, blank=True)
    score = models.FloatField(_("score"), null=True)
    completeness = models.FloatField(_("evidence completeness"))
    stability = models.FloatField(_("stability"), null=True)
    overridden = models.BooleanField(_("overridden"), default=False)
    held_by_hysteresis = models.BooleanField(_("kept by hysteresis"), default=False)
    # {"c": [[feature, value, contribution], …] top contributions, "m": [missing evidence], "r": rule}
    explanation = models.JSONField(_("explanation"), default=dict)
    #: The later run of the chain that replaced this row (wrote the client's new result, or found the client
    #: gone); None while it stands. Deleting that run puts this row back in force.
    superseded_by = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                      db_constraint=False, db_index=False)
    #: The explanation's numbers packed (float32, ``services.fingerprint``) so that a later run compares them
    #: without parsing a million JSON documents.
    fingerprint = models.BinaryField(null=True, blank=True)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [models.UniqueConstraint(fields=["run", "organization"], name="assignment_unique")]
        indexes = [
            models.Index(fields=["run", "label", "score"], name="assignment_run_label_idx"),
            models.Index(fields=["organization", "run"], name="assignment_org_idx"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.organization_id} → {self.label}"

    @property
    def margin(self) -> float | None:
        """The score less the line of the run being read: ``view_line`` when the row came from
        ``selectors.effective_assignments`` (the row may have been written by an earlier run of the chain),
        else the threshold of the row's own run."""
        if "_margin" in self.__dict__:
            return self.__dict__["_margin"]
        if "view_line" in self.__dict__:
            line = self.__dict__["view_line"]
        else:  # not read through effective_assignments: the row's own run (queried only then)
            line = self.run.threshold
        if self.score is None or line is None:
            return None
        return float(self.score) - float(line)

    @margin.setter
    def margin(self, value: float | None) -> None:
        self.__dict__["_margin"] = value


class ClientLabels(models.Model):
    """The current label of each client per dimension, denormalised for fast filtering of lists.

    Only labels: a run rewrites just the rows whose label changed (a re-run on a million clients moves
    few), and the assignment behind a label is the client's row in the dimension's latest run."""

    organization = models.OneToOneField("parties.Organization", primary_key=True, on_delete=models.CASCADE,
                                        related_name="labels")
    value = models.CharField(_("value"), max_length=16, blank=True, default="")
    risk = models.CharField(_("risk"), max_length=16, blank=True, default="")
    relationship = models.CharField(_("relationship"), max_length=16, blank=True, default="")

    class Meta:
        verbose_name = _("current labels")
        verbose_name_plural = _("current labels")
        indexes = [
            models.Index(fields=["value"], name="labels_value_idx"),
            models.Index(fields=["risk"], name="labels_risk_idx"),
            models.Index(fields=["relationship"], name="labels_relationship_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.value or '-'}/{self.risk or '-'}/{self.relationship or '-'}"


class Override(models.Model):
    """A label set by hand (人工调整): wins over runs until it expires or is revoked."""

    organization = models.ForeignKey("parties.Organization", on_delete=models.CASCADE, related_name="label_overrides")
    dimension = models.CharField(_("dimension"), max_length=16, choices=Dimension.choices)
    label = models.CharField(_("label"), max_length=16, choices=LABEL_CHOICES)
    reason = models.TextField(_("reason"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                               verbose_name=_("author"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("override")
        verbose_name_plural = _("overrides")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["dimension", "expires_at"], name="override_dim_idx")]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="override_reason_required",
                                   violation_error_message=_("An override needs a reason.")),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.dimension}={self.label}"


class ScheduleState(models.Model):
    """When the scheduler last enqueued a run per dimension: the row two workers lock to agree."""

    dimension = models.CharField(max_length=16, choices=Dimension.choices, primary_key=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("schedule state")
        verbose_name_plural = _("schedule states")

    def __str__(self) -> str:
        return f"{self.dimension}: {self.enqueued_at}"


class ExpertScorecard(models.Model):
    """One version of the expert risk scorecard's points table, set by compliance (专家评分卡)."""

    version = models.PositiveIntegerField(_("version"), unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    config = models.JSONField(_("points table"))
    note = models.CharField(_("what changed"), max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("expert scorecard")
        verbose_name_plural = _("expert scorecards")
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True),
                                               name="expert_scorecard_one_active")]

    def __str__(self) -> str:
        return f"expert scorecard v{self.version}"


class ClientChange(models.Model):
    """When a client's classification inputs last changed (its interactions, participations and their status
    steps, survey answers, contacts, or the profile fields the features read).

    Kept by database triggers on those tables (migration ``0005``), so every writer — services, imports, bulk
    statements, the admin — marks the client; one row per client. The incremental run recomputes the features
    of the clients changed since its feature store was last brought up to date."""

    organization_id = models.BigIntegerField(primary_key=True)
    changed_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("client change")
        verbose_name_plural = _("client changes")

    def __str__(self) -> str:
        return f"{self.organization_id} changed {self.changed_at}"


class ClvFit(models.Model):
    """A portfolio lifetime-value model (BG/NBD + Gamma-Gamma) kept for scoring: runs predict every client's
    lifetime value with the newest fit no older than ``BCRM_CLV_REFIT_DAYS`` before their as-of date, so a
    client whose commitments did not change keeps its figures from day to day (and a full run gives the daily
    run's labels); a run refits when the kept fit is that old, or when asked (``model_features``)."""

    as_of = models.DateField(_("fitted as of"))
    fitted_at = models.DateTimeField(_("fitted at"))
    #: {"r", "alpha", "a", "b"} and, when the spend model held, {"p", "q", "gamma"}.
    params = models.JSONField(_("parameters"), default=dict)
    customers = models.PositiveIntegerField(_("customers"))
    log_likelihood = models.FloatField(_("log-likelihood"), null=True)
    #: What the fit reported, as message codes with parameters ({"template", "params"}), shown per reader.
    notes = models.JSONField(_("notes"), default=list, blank=True)

    class Meta:
        verbose_name = _("lifetime-value model")
        verbose_name_plural = _("lifetime-value models")
        ordering = ["-as_of", "-id"]

    def __str__(self) -> str:
        return f"lifetime-value model as of {self.as_of}"

    @property
    def spend_model(self) -> bool:
        return "p" in self.params


class FeatureStore(models.Model):
    """The state of the stored raw feature numbers (one row): as of which date, up to which moment of the
    client-change stream, the layout of each client's packed numbers, and what they depend on besides."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    as_of = models.DateField()
    watermark = models.DateTimeField()
    layout = models.JSONField(default=list)  # ["family:column", …], the order of the packed numbers
    context = models.JSONField(default=dict)  # family → what the raw numbers also depend on (rates)
    built_at = models.DateTimeField()
    #: One more at every write of the rows: names the copy of the rows in the data folder, since two runs may
    #: share a watermark (an older transaction still open holds it back; see ``feature_store.change_watermark``).
    generation = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("feature store")
        verbose_name_plural = _("feature stores")

    def __str__(self) -> str:
        return f"features as of {self.as_of} (changes to {self.watermark})"


class FeatureRow(models.Model):
    """One client's raw feature numbers, float64 packed in ``FeatureStore.layout`` order."""

    organization_id = models.BigIntegerField(primary_key=True)
    data = models.BinaryField()

    class Meta:
        verbose_name = _("stored features")
        verbose_name_plural = _("stored features")

    def __str__(self) -> str:
        return f"features of {self.organization_id}"


class AssignmentEpoch(models.Model):
    """A counter that database triggers (migration ``0008``) move on every change to standing assignment rows
    other than a run's own writes: rows deleted (a client erased or merged away) or moved to another client or
    run (a merge), or put back in force (``superseded_by`` cleared). A run's copy of the assignments it leaves
    in force (``standing``) is stamped with it, so a copy is used only while no such change happened."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("assignment epoch")
        verbose_name_plural = _("assignment epochs")

    def __str__(self) -> str:
        return f"assignment epoch {self.value}"
