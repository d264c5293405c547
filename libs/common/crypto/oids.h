// Where the suite's own facts live in certificates. All are standard, registered attributes,
// so that every X.509 implementation parses our certificates (GnuTLS's libtasn1, for one,
// refuses OID arcs wider than 64 bits, which rules out UUID-based 2.25 OIDs). docs/oids.md
// explains each choice.
#pragma once

#include <string_view>

namespace semper::oids {

// organizationIdentifier (X.520): the VAT reference, "VATDE-123456789" (ETSI EN 319 412-1).
inline constexpr std::string_view kOrganizationIdentifier = "2.5.4.97";
// pseudonym (X.520).
inline constexpr std::string_view kPseudonym = "2.5.4.65";
// businessCategory (X.520): the customer kind, "individual" or "enterprise".
inline constexpr std::string_view kBusinessCategory = "2.5.4.15";
// jurisdictionCountryName (CA/Browser Forum EV guidelines): the applicable law, an ISO 3166-1
// alpha-2 code or "EU".
inline constexpr std::string_view kJurisdictionCountry = "1.3.6.1.4.1.311.60.2.1.3";
// organizationalUnitName values "semper-role:<role>" carry the suite roles of the subject, as
// Kubernetes carries groups in the subject's organization.
inline constexpr std::string_view kRolePrefix = "semper-role:";

}  // namespace semper::oids
