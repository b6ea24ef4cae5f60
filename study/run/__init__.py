"""A study or a suite from its spec to its report: the pipeline the command runs.

- ``start``: a new study or suite, in a new folder it claims;
- ``resume``: an interrupted one, from its folder or its storage URI; ``study sync``;
- ``one``: one study on Ray, new or resumed; ``finish``: its tables, summary, report
  and upload, however it ended;
- ``suites``: a suite's studies one after another.

May import every other part of study, and analysis for the reports.
"""
