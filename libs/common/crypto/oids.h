// Object identifiers the suite defines. The arc is a UUID-derived OID (ITU-T X.667, 2.25.<uuid>),
// which needs no registration and cannot collide with anyone else's. docs/oids.md lists them.
#pragma once

#include <string_view>

namespace semper::oids {

// 2.25 + UUID 2190b970-c5cb-4fa5-a8f8-6a6e21895ca4
inline constexpr std::string_view kArc = "2.25.44615975789076451139995530918202268836";

// Certificate extension: the suite roles of the subject, SEQUENCE OF UTF8String.
inline constexpr std::string_view kRolesExtension = "2.25.44615975789076451139995530918202268836.1.1";
// Certificate extension: customer kind, UTF8String "individual" or "enterprise".
inline constexpr std::string_view kCustomerKindExtension = "2.25.44615975789076451139995530918202268836.1.2";
// Certificate extension: applicable law, PrintableString (ISO 3166-1 alpha-2 or "EU").
inline constexpr std::string_view kApplicableLawExtension = "2.25.44615975789076451139995530918202268836.1.3";

// Standard ones used by name.
inline constexpr std::string_view kOrganizationIdentifier = "2.5.4.97";
inline constexpr std::string_view kPseudonym = "2.5.4.65";

}  // namespace semper::oids
