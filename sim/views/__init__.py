"""The front ends: the command line (cli), the browser visualiser (app, with its network layout,
layout, and its browser assets, assets), the run's report figure (report) and the chart
definitions both draw from (charts). Views read the model and the experiments' tidy tables;
nothing below imports them."""
