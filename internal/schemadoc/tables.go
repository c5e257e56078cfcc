package schemadoc

// types describes the generated types (replacing entgql's "X is enum for the
// field y", which tells a client nothing).
var types = map[string]string{
	"Query": "The entry points for reading.",

	"User": "A person's profile (R4): a member of an organization's staff, or a Platform " +
		"Support account. Users are never deleted, only inactivated (R11).",
	"Clinic":       "A clinic of an organization. Licenses belong to a clinic (R21) and managers work in one at a time (R3).",
	"Organization": "A practice: it owns clinics and users, and nothing of it is visible to another organization (R1).",
	"License": "One billed seat of a class at a clinic (R21): in use while an active user holds it, " +
		"available otherwise.",
	"LicenseAdjustment": "A request to billing to add or release licenses of a class at a clinic (R26).",
	"Permission":        "An entry of the permission catalog (R16).",
	"UserImport": "A staff-list import (importUsers): its progress, its counts and the errors of " +
		"the rows that failed.",
	"UserImportError":  "One broken rule of one row of a staff-list import.",
	"UserImportStatus": "Where a staff-list import stands.",
	"AuditEvent": "One record of the append-only audit trail (R31): who did what to which user or " +
		"object, the values before and after, when, from where, and the outcome.",

	"UserType":   "A user's type (R20). Support is the platform's own staff and takes no license.",
	"UserStatus": "Whether a user holds a license and may sign in (R21, R25).",
	"LicenseClass": "The class of license a user type takes (R20); a license of one class is never " +
		"used by a user of another.",
	"LicenseAdjustmentKind":          "Whether an adjustment adds or releases licenses.",
	"LicenseAdjustmentReleaseReason": "Why licenses are released (required for a release, R26).",
	"LicenseAdjustmentStatus":        "Where a license adjustment stands (R26).",
	"AuditEventAction":               "What an audit record is about (R31).",
	"AuditEventOutcome":              "Whether the recorded action succeeded.",
}

// fields describes generated fields and arguments whose ent schema has no
// place for a comment (connections of edges, the root query fields).
var fields = map[string]string{
	"Query.clinics":       "The clinics of the viewer's organization (of every organization for Support).",
	"Query.organizations": "Organizations: Support sees all of them, others their own.",
	"Query.permissions":   "The permission catalog (R16), the same for every organization.",

	"Clinic.users":         "The users with access to this clinic.",
	"Organization.clinics": "The organization's clinics.",
	"UserImport.rowErrors": "The errors of the rows that failed, every broken rule of each (R10), " +
		"in row order.",
}

// enumValues describes the values of the generated enums, as
// "Enum.VALUE". Order fields (<T>OrderField) are described by pattern.
var enumValues = map[string]string{
	"UserType.PT":       "Physical Therapist (Therapist class).",
	"UserType.OT":       "Occupational Therapist (Therapist class).",
	"UserType.SLP":      "Speech-Language Pathologist (Therapist class).",
	"UserType.PTA":      "Physical Therapist Assistant (Assistant class).",
	"UserType.COTA":     "Certified Occupational Therapy Assistant (Assistant class).",
	"UserType.SLPA":     "Speech-Language Pathology Assistant (Assistant class).",
	"UserType.SPT":      "Student Physical Therapist (Student class).",
	"UserType.SOT":      "Student Occupational Therapist (Student class).",
	"UserType.SSLP":     "Student Speech-Language Pathologist (Student class).",
	"UserType.CLERICAL": "Clerical staff (Clerical class).",
	"UserType.BILLER":   "Biller (Clerical class); a Biller's profile is edited only from its home clinic (R13).",
	"UserType.SUPPORT": "Platform Support or billing staff: no organization, no license, and may act on " +
		"any organization. Not a type an organization's users can have.",

	"UserStatus.ACTIVE":   "Holds a license of their class at their home clinic and may sign in.",
	"UserStatus.INACTIVE": "Holds no license and cannot sign in (R25).",

	"LicenseClass.THERAPIST": "PT, OT and SLP: a provider class.",
	"LicenseClass.ASSISTANT": "PTA, COTA and SLPA: a provider class.",
	"LicenseClass.STUDENT":   "SPT, SOT and SSLP: a provider class.",
	"LicenseClass.CLERICAL":  "Clerical and Biller: not a provider class.",

	"UserImportStatus.QUEUED":       "Stored and waiting for the job to start.",
	"UserImportStatus.RUNNING":      "Rows are being read and created.",
	"UserImportStatus.COMPLETED":    "Every row was read; the counts and row errors say what became of each.",
	"UserImportStatus.FAILED":       "The file could not be read as a staff list at all (see error).",
	"LicenseAdjustmentKind.ADD":     "Add licenses: the clinic's total grows when completed.",
	"LicenseAdjustmentKind.RELEASE": "Release available licenses: the clinic's total shrinks when completed.",

	"LicenseAdjustmentReleaseReason.NO_LONGER_NEEDED": "The licenses are no longer needed.",
	"LicenseAdjustmentReleaseReason.STAFF_LEFT":       "Staff left.",
	"LicenseAdjustmentReleaseReason.CLINIC_CLOSING":   "The clinic is closing.",
	"LicenseAdjustmentReleaseReason.BUDGET":           "Budget reasons.",
	"LicenseAdjustmentReleaseReason.OTHER":            "Another reason, told in the explanation.",

	"LicenseAdjustmentStatus.PENDING": "Waiting for Support, or for the end of the processing window " +
		"(dueAt) when it is processed automatically; the requester may cancel it.",
	"LicenseAdjustmentStatus.COMPLETED": "Processed: the clinic's total licenses changed.",
	"LicenseAdjustmentStatus.REJECTED": "Refused by Support, or a release that no longer fitted the " +
		"available licenses; see rejectionReason. Totals are unchanged.",
	"LicenseAdjustmentStatus.CANCELLED": "Withdrawn by its requester while pending.",

	"AuditEventOutcome.SUCCESS": "The action was done.",
	"AuditEventOutcome.FAILURE": "The action was refused, e.g. a failed sign-in; reason may say why.",

	"AuditEventAction.SIGN_IN_SUCCEEDED":          "Someone signed in.",
	"AuditEventAction.SIGN_IN_FAILED":             "A sign-in was refused (wrong credentials, inactive account or lockout).",
	"AuditEventAction.USER_CREATED":               "A user was added.",
	"AuditEventAction.USER_UPDATED":               "Fields of a profile changed.",
	"AuditEventAction.USER_STATUS_CHANGED":        "A user was activated or inactivated.",
	"AuditEventAction.USER_PERMISSIONS_CHANGED":   "A user's permissions changed.",
	"AuditEventAction.USER_CLINICS_CHANGED":       "A user's clinic access changed.",
	"AuditEventAction.USER_TYPE_CHANGED":          "Support changed a user's type.",
	"AuditEventAction.USER_PASSWORD_SET":          "A manager set a user's password.",
	"AuditEventAction.USER_PICTURE_CHANGED":       "A profile picture was uploaded or removed.",
	"AuditEventAction.USER_SIGNATURE_CHANGED":     "A signature image was uploaded or removed.",
	"AuditEventAction.ORGANIZATION_CREATED":       "Support set up an organization.",
	"AuditEventAction.CLINIC_CREATED":             "A clinic was added.",
	"AuditEventAction.CLINIC_UPDATED":             "A clinic was renamed.",
	"AuditEventAction.LICENSES_CHANGED":           "A clinic's billed licenses of one class changed (see Query.auditEvents).",
	"AuditEventAction.LICENSE_ADJUSTMENT_CHANGED": "A license adjustment was requested, cancelled, completed or rejected.",
	"AuditEventAction.PASSWORD_RESET_SENT":        "A password-reset email was sent.",
	"AuditEventAction.PASSWORD_RESET_COMPLETED":   "A password was set with a reset link.",
	"AuditEventAction.LOCKOUT_CLEARED":            "A manager cleared a user's sign-in lockout.",
	"AuditEventAction.SESSION_REVOKED":            "Sessions were ended (revokeSessions).",
	"AuditEventAction.AUDIT_EXPORTED":             "The audit trail was exported (exportAuditEvents).",
	"AuditEventAction.USERS_EXPORTED":             "Users were exported as CSV (exportUsers).",
	"AuditEventAction.USERS_IMPORTED":             "A staff list was uploaded for import (importUsers); each user it creates has its own USER_CREATED.",
	"AuditEventAction.INVITATION_SENT":            "An invitation to set a password was emailed (createUser without a password, sendInvitation).",
}
