"""The label values that masks, losses, metrics and figures share."""

#: Pixels that are not road.
BACKGROUND = 0
#: Road pixels.
ROAD = 1
#: Pixels whose class is unknown (e.g. the uncertain band along a road layer's edges);
#: every loss and score leaves them out.
IGNORE_INDEX = 255
