"""Blood, energy and BOLD: the Balloon–Windkessel hemodynamic model
(:mod:`wbe.hemodynamics.balloon`) and functional-connectivity measures on BOLD
(:mod:`wbe.hemodynamics.fc`)."""
