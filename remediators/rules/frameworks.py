"""Framework references for rule metadata: which control of which framework a rule gives evidence for.

A reviewer maps findings to the frameworks they report against; these references are what the pack, its
CSV and OCSF exports and docs/baseline.md show. They state where a rule gives evidence, not that passing
it satisfies the control. Sources and the reasoning per framework are in docs/frameworks.md:
- MCSB: Microsoft cloud security benchmark v1 control ids, as PSRule for Azure labels its Redis rules
  (`Azure.MCSB.v1/control`) and Defender for Cloud's MCSB initiative groups the Redis built-ins;
- CIS: CIS Microsoft Azure Foundations Benchmark v2.0.0 recommendation numbers; Foundations has no Redis
  section, so only its service-independent recommendations are cited (Redis itself is covered by CIS's
  separate Database Services benchmark, not referenced here);
- ISO/IEC 27001:2022 Annex A controls; NCSC Cloud Security Principles (1-14); Cyber Essentials' five
  technical controls; UK GDPR articles.
"""

from __future__ import annotations

from dataclasses import dataclass

MCSB = "MCSB v1"
CIS = "CIS Azure Foundations 2.0.0"
ISO = "ISO/IEC 27001:2022"
NCSC = "NCSC Cloud Security Principles"
CE = "Cyber Essentials"
GDPR = "UK GDPR"
FRAMEWORKS = (MCSB, CIS, ISO, NCSC, CE, GDPR)

NCSC_PRINCIPLES = {
    1: "Data in transit protection", 2: "Asset protection and resilience", 3: "Separation between customers",
    4: "Governance framework", 5: "Operational security", 6: "Personnel security", 7: "Secure development",
    8: "Supply chain security", 9: "Secure user management", 10: "Identity and authentication",
    11: "External interface protection", 12: "Secure service administration",
    13: "Audit information and alerting for customers", 14: "Secure use of the service",
}
CE_CONTROLS = ("Firewalls", "Secure configuration", "Security update management", "User access control",
               "Malware protection")


@dataclass(frozen=True)
class FrameworkRef:
    framework: str  # one of FRAMEWORKS
    control: str  # the framework's own id: "NS-2", "A.8.24", "Principle 1", "Firewalls", "Art. 32(1)(a)"

    def __post_init__(self) -> None:
        if self.framework not in FRAMEWORKS:
            raise ValueError(f"unknown framework {self.framework!r}")

    def __str__(self) -> str:
        return f"{self.framework} {self.control}"


def mcsb(control: str) -> FrameworkRef:
    return FrameworkRef(MCSB, control)


def cis(recommendation: str) -> FrameworkRef:
    return FrameworkRef(CIS, recommendation)


def iso(control: str) -> FrameworkRef:
    return FrameworkRef(ISO, control)


def ncsc(principle: int) -> FrameworkRef:
    return FrameworkRef(NCSC, f"Principle {principle} ({NCSC_PRINCIPLES[principle]})")


def cyber_essentials(control: str) -> FrameworkRef:
    if control not in CE_CONTROLS:
        raise ValueError(f"not a Cyber Essentials technical control: {control!r}")
    return FrameworkRef(CE, control)


def uk_gdpr(article: str) -> FrameworkRef:
    return FrameworkRef(GDPR, article)


# Shared sets, so rules that give the same evidence cite the same controls.
IN_TRANSIT = (mcsb("DP-3"), iso("A.8.24"), ncsc(1), cyber_essentials("Secure configuration"),
              uk_gdpr("Art. 32(1)(a)"))
NETWORK = (mcsb("NS-2"), iso("A.8.20"), iso("A.8.22"), ncsc(11), cyber_essentials("Firewalls"),
           uk_gdpr("Art. 32(1)(b)"))
IDENTITY = (mcsb("IM-1"), iso("A.5.17"), iso("A.8.5"), ncsc(10), cyber_essentials("User access control"),
            uk_gdpr("Art. 32(1)(b)"))
LOGGING = (mcsb("LT-3"), cis("5.4"), iso("A.8.15"), iso("A.8.16"), ncsc(13), uk_gdpr("Art. 32(1)(d)"))
MONITORING = (iso("A.8.16"), ncsc(13), uk_gdpr("Art. 32(1)(b)"))
AT_REST_KEYS = (mcsb("DP-5"), iso("A.8.24"), ncsc(2), uk_gdpr("Art. 32(1)(a)"))
RESIDENCY = (iso("A.5.34"), ncsc(2), uk_gdpr("Art. 44"))
RETENTION = (iso("A.8.10"), ncsc(2), uk_gdpr("Art. 5(1)(e)"))
PATCHING = (iso("A.8.8"), ncsc(5), cyber_essentials("Security update management"), uk_gdpr("Art. 32(1)(b)"))
