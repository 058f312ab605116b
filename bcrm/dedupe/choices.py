"""What each reason code means, in the words users read (translated)."""

from django.utils.translation import gettext_lazy as _

from bcrm.dedupe.models import Entity

REASON_LABELS = {
    Entity.ORGANIZATIONS: {
        "external_id": _("Same external id, ignoring case and spaces"),
        "legal_name": _("Same legal name once legal forms (Co., Ltd., 有限公司…) are removed"),
        "local_name": _("Same local name once legal forms (Co., Ltd., 有限公司…) are removed"),
        "legal_local": _("The legal name of one is the local name of the other"),
        "contact_email": _("A contact e-mail address in common"),
        "name_loose": _("Same name apart from group or holding words (Group, Holdings, 集团, 控股)"),
        "website_domain": _("Same website domain"),
        "email_domain": _("Same company domain in websites or contact e-mail addresses"),
    },
    Entity.CONTACTS: {
        "email": _("Same e-mail address"),
        "name": _("Same name in the same organisation (order, case and spaces ignored)"),
        "name_local": _("The name of one is the local name of the other, in the same organisation"),
        "phone": _("Same phone number (last ten digits)"),
    },
}


def reason_label(entity: str, code: str, value: str = "") -> str:
    label = str(REASON_LABELS.get(entity, {}).get(code, code))  # type: ignore[call-overload]  # Entity is a str enum
    return f"{label}: {value}" if value else label
