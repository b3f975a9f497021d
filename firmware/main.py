# OPSM-SP-230 meter: everything lives in lib/ (app.mpy, board.mpy, ...).
import app

app.run()
