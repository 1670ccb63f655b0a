"""llamonitor event listener for CrewAI."""
