"""The ground floor: what every domain core may import (the wire model base and registry,
contract compatibility rules). No I/O."""
