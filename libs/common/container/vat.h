// Formats of VAT references, as carried in certificates (organizationIdentifier, ETSI EN 319
// 412-1 5.1.4: "VAT" + country code + "-" + national number) and in order templates.
// Checks the format per country, not the check digits, and not whether the number is
// registered (that takes the tax authority's VIES service, outside this suite).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace semper {

// OK for "VATDE-123456789"; INVALID_FIELD naming `field` otherwise.
absl::Status ValidateVatReference(std::string_view reference, std::string_view field = "vat_reference");

// An officially assigned ISO 3166-1 alpha-2 code ("DE", "GR"; not "XX", "EU", "EL" or "UK").
bool IsCountryCode(std::string_view code);
// How many two-letter codes IsCountryCode accepts (249), for its test.
size_t AssignedCountryCodeCount();

// "VATDE-123456789" -> "DE" (Greece's "EL" stays "EL"); empty if the shape is wrong.
std::string VatCountry(std::string_view reference);

}  // namespace semper
