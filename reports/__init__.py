"""Reports built from a results store alone: tables (:mod:`.tables`), figures
(:mod:`.figures`, :mod:`.maps`), the HTML page (:mod:`.html`), the comparison of
two runs (:mod:`.compare`); :mod:`.report` assembles and writes them."""
