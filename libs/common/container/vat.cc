// VAT number formats of the EU member states (VIES), Northern Ireland, the UK, Switzerland and
// Norway.
#include "common/container/vat.h"

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
  return code.size() == 2 && code[0] >= 'A' && code[0] <= 'Z' && code[1] >= 'A' && code[1] <= 'Z';
}

std::string VatCountry(std::string_view reference) {
  if (reference.size() < 7 || reference.substr(0, 3) != "VAT" || reference[5] != '-' ||
      !IsCountryCode(reference.substr(3, 2))) {
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
    return InvalidField(field, StrCat("VAT references of country ", country,
                                      " are not supported"));
  }
  std::string number(reference.substr(6));
  if (!std::regex_match(number, it->second)) {
    return InvalidField(field, StrCat("'", number, "' is not a valid VAT number format for ",
                                      country));
  }
  return absl::OkStatus();
}

}  // namespace semper
