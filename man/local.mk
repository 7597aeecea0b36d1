# Manual pages.
dist_man_MANS += man/serviced.8 man/serviced.conf.5 man/libserviced.3
