# man/local.mk: owned by packaging/.
#
# The manual pages, written by hand in mdoc(7).  "make install" puts them
# under $(mandir) and the dom0 RPM ships them too;
# tests/integ/packaging_man.sh (in packaging/local.mk) lints them with
# mandoc and checks they document every option and command the programs have.
dist_man_MANS = man/moat.8 man/moatctl.8 man/moat-rules.8 man/moat-rules.json.5
