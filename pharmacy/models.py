"""The counter keeps no models of its own: the pharmacies, the dispenses it records and the
pharmacists' reach are `patients.models`, below every app that reads them (docs/architecture.md);
the app's migrations keep their history. (This module stays, empty, because the type checker's
Django plugin reads every installed app's models module.)"""
