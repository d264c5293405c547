// VAT number formats of the EU member states (VIES), Northern Ireland, the UK, Switzerland and
// Norway.
#include "common/container/vat.h"

#include <cctype>
#include <map>
#include <regex>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper {
namespace {

const std::map<std::string, std::regex>& Formats() {
  static const auto* formats = new std::map<std::string, std::regex>{
      {"AT", std::regex("U[0-9]{8}")},
      {"BE", std::regex("[01][0-9]{9}")},
      {"BG", std::regex("[0-9]{9,10}")},
      {"CY", std::regex("[0-9]{8}[A-Z]")},
      {"CZ", std::regex("[0-9]{8,10}")},
      {"DE", std::regex("[0-9]{9}")},
      {"DK", std::regex("[0-9]{8}")},
      {"EE", std::regex("[0-9]{9}")},
      {"EL", std::regex("[0-9]{9}")},
      {"GR", std::regex("[0-9]{9}")},
      {"ES", std::regex("[A-Z0-9][0-9]{7}[A-Z0-9]")},
      {"FI", std::regex("[0-9]{8}")},
      {"FR", std::regex("[A-HJ-NP-Z0-9]{2}[0-9]{9}")},
      {"HR", std::regex("[0-9]{11}")},
      {"HU", std::regex("[0-9]{8}")},
      {"IE", std::regex("[0-9]{7}[A-W][A-I]?|[0-9][A-Z+*][0-9]{5}[A-W]")},
      {"IT", std::regex("[0-9]{11}")},
      {"LT", std::regex("[0-9]{9}|[0-9]{12}")},
      {"LU", std::regex("[0-9]{8}")},
      {"LV", std::regex("[0-9]{11}")},
      {"MT", std::regex("[0-9]{8}")},
      {"NL", std::regex("[0-9]{9}B[0-9]{2}")},
      {"PL", std::regex("[0-9]{10}")},
      {"PT", std::regex("[0-9]{9}")},
      {"RO", std::regex("[1-9][0-9]{1,9}")},
      {"SE", std::regex("[0-9]{10}01")},
      {"SI", std::regex("[0-9]{8}")},
      {"SK", std::regex("[0-9]{10}")},
      {"XI", std::regex("[0-9]{9}|[0-9]{12}|GD[0-9]{3}|HA[0-9]{3}")},
      {"GB", std::regex("[0-9]{9}|[0-9]{12}|GD[0-9]{3}|HA[0-9]{3}")},
      {"CH", std::regex("E[0-9]{9}")},
      {"NO", std::regex("[0-9]{9}")},
  };
  return *formats;
}

}  // namespace

bool IsCountryCode(std::string_view code) {
  // The 249 officially assigned ISO 3166-1 alpha-2 codes. User-assigned ranges (AA, QM-QZ, XA-XZ,
  // ZZ) and reserved codes (EU, UK, EL) are not countries: a law or a country "XX" names nothing.
  static constexpr std::string_view kAssigned =
      "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY "
      "BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK "
      "FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR "
      "IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK "
      "ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
      "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF "
      "TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";
  if (code.size() != 2) return false;
  for (size_t i = 0; i + 2 <= kAssigned.size(); i += 3) {
    if (kAssigned.substr(i, 2) == code) return true;
  }
  return false;
}

size_t AssignedCountryCodeCount() {
  size_t n = 0;
  for (char a = 'A'; a <= 'Z'; ++a) {
    for (char b = 'A'; b <= 'Z'; ++b) n += IsCountryCode(std::string{a, b}) ? 1 : 0;
  }
  return n;
}

std::string VatCountry(std::string_view reference) {
  if (reference.size() < 7 || reference.substr(0, 3) != "VAT" || reference[5] != '-' ||
      !std::isupper(static_cast<unsigned char>(reference[3])) ||
      !std::isupper(static_cast<unsigned char>(reference[4]))) {
    return "";
  }
  return std::string(reference.substr(3, 2));
}

absl::Status ValidateVatReference(std::string_view reference, std::string_view field) {
  std::string country = VatCountry(reference);
  if (country.empty()) {
    return InvalidField(field, StrCat("'", reference,
                                      "' is not of the form VAT<country>-<number>, "
                                      "e.g. VATDE-123456789"));
  }
  auto it = Formats().find(country);
  if (it == Formats().end()) {
    return InvalidField(field, StrCat("VAT references of country ", country, " are not supported"));
  }
  std::string number(reference.substr(6));
  if (!std::regex_match(number, it->second)) {
    return InvalidField(field, StrCat("'", number, "' is not a valid VAT number format for ", country));
  }
  return absl::OkStatus();
}

}  // namespace semper
