"""Outcome of entering a recharge code, shared by every token profile.

A decoder never raises on bad input: it returns a rejection whose reason is one of
the names below, so the screen and the event log can say exactly why.
"""

# Rejection reasons (TOKENS.md "Decoder rules" plus our own).
FORMAT = "FORMAT"            # not the right number of digits, non-digit, or value too large
CRC = "CRC"                  # STS: CRC mismatch after decryption (wrong key or a typo)
INVALID = "INVALID"          # OpenPAYGO: no count in the window matches the code
USED = "USED"                # already accepted (TID in memory / count already used)
OLD = "OLD"                  # STS: TID older than every TID in memory
KEY_EXPIRED = "KEY_EXPIRED"  # STS: TID beyond the key expiry number
RANGE = "RANGE"              # a field is outside what the meter accepts
OVERFLOW = "OVERFLOW"        # the credit register would overflow
FUNCTION = "FUNCTION"        # token type not supported by this meter
DDTK = "DDTK"                # STS: credit sent to a meter still on its default key
KEY_TYPE = "KEY_TYPE"        # STS: illegal key type in a key change
LOCKED = "LOCKED"            # keypad locked out after repeated rejections
BUSY = "BUSY"                # no room in the heap to decode now (a firmware transfer): nothing changed

# What an accepted STS code does (sts_decoder.StsResult.kind): here, so that the meter applies and
# shows a result with the decoder's modules already released (firmware/lib/token_profiles.py).
CREDIT = "CREDIT"
MAX_POWER = "MAX_POWER"
CLEAR_CREDIT = "CLEAR_CREDIT"
TARIFF = "TARIFF"
CLEAR_TAMPER = "CLEAR_TAMPER"
PHASE_UNBALANCE = "PHASE_UNBALANCE"
KEY_SECTION = "KEY_SECTION"
KEY_CHANGE = "KEY_CHANGE"
TEST = "TEST"

REASONS = (FORMAT, CRC, INVALID, USED, OLD, KEY_EXPIRED, RANGE, OVERFLOW, FUNCTION,
           DDTK, KEY_TYPE, LOCKED, BUSY)

# What the meter shows for each rejection, in the screen's language (Spanish, ASCII for
# the 8x8 font), short enough for the rejection screen.
MESSAGES = {
    FORMAT: "Codigo incompleto o invalido",
    CRC: "Codigo no es de este medidor",
    INVALID: "Codigo no valido",
    USED: "Codigo ya usado",
    OLD: "Codigo demasiado antiguo",
    KEY_EXPIRED: "Clave del medidor vencida",
    RANGE: "Valor fuera de rango",
    OVERFLOW: "El credito se desbordaria",
    FUNCTION: "Tipo de codigo no soportado",
    DDTK: "Medidor requiere cambio de clave",
    KEY_TYPE: "Tipo de clave incorrecto",
    LOCKED: "Teclado bloqueado, espere",
    BUSY: "Medidor ocupado, reintente luego",
}
